-- muster state, schema 9: what replicas sharing one database need (the same file makes sense
-- for one process: it is always the leader, and claims its own outbox rows).

-- Who holds what, until when: the leader of the scheduled cycles (`leader`). A holder renews
-- its lease before `until_ms` (unix ms); another takes it over once it has expired. `term`
-- counts the holders, so a new one knows it is new.
CREATE TABLE leases (
    name            TEXT PRIMARY KEY NOT NULL,
    holder          TEXT NOT NULL,
    term            INTEGER NOT NULL,
    until_ms        INTEGER NOT NULL
) STRICT;

-- The replica forwarding a person's oldest outbox row, until when (unix ms): no other replica
-- takes the person until the row is settled or the claim has expired (its replica died).
ALTER TABLE gateway_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE gateway_outbox ADD COLUMN claimed_until INTEGER;
