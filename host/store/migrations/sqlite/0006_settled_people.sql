-- muster state, schema 6: delta planning.

-- The input hash (the first 128 bits of a sha256 of the person as the pipeline reads them) of
-- each person whose last plan was settled: applied, or nothing to apply. A cycle under the same
-- pipeline fingerprint (meta `settled_fingerprint`) plans only the people whose hash differs.
-- Writing or removing a person's record deletes their row, so a record changed by anything but
-- the cycle that settled it is planned again.
CREATE TABLE settled_people (
    source_id       TEXT PRIMARY KEY NOT NULL,
    input_hash      BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- A delta cycle reads every record's source id and matching value, and only the records of the
-- people it plans: this index answers the first without reading the records' JSON.
CREATE INDEX records_keys ON records (source_id, matching_value);
