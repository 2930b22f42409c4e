-- muster state, schema 5: what `muster replay` needs to run a plugin step of the log again.

-- The exact input a plugin was shown and its configuration document, by content hash (the
-- first 128 bits of the sha256 of `data`, in hex): a blob is stored once however many steps
-- share it, and lives as long as a log entry refers to it.
CREATE TABLE replay_blobs (
    hash            TEXT PRIMARY KEY NOT NULL,
    data            BLOB NOT NULL
) STRICT;

-- Which blobs each log entry refers to. Deleting the entry deletes its references; a prune
-- then deletes the blobs no reference is left to.
CREATE TABLE log_blobs (
    log_id          INTEGER NOT NULL REFERENCES logs (id) ON DELETE CASCADE,
    hash            TEXT NOT NULL,
    PRIMARY KEY (log_id, hash)
) STRICT, WITHOUT ROWID;
CREATE INDEX log_blobs_hash ON log_blobs (hash);
