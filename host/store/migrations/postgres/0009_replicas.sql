-- muster state on PostgreSQL, schema 9: leases and outbox claims (see the SQLite file of the
-- same number for what they mean).
CREATE TABLE leases (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    term            BIGINT NOT NULL,
    until_ms        BIGINT NOT NULL
);

ALTER TABLE gateway_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE gateway_outbox ADD COLUMN claimed_until BIGINT;
