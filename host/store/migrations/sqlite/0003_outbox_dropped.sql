-- Changes the gateway gave up forwarding (the target rejected them `[gateway] max_rejections`
-- times): kept for an operator to read and replay through the admin API, never lost silently.
CREATE TABLE gateway_dropped (
    seq             INTEGER PRIMARY KEY,     -- the outbox row's seq
    person_id       TEXT NOT NULL,
    person          TEXT,
    enqueued_at     INTEGER NOT NULL,        -- unix milliseconds
    dropped_at      INTEGER NOT NULL,        -- unix milliseconds
    attempts        INTEGER NOT NULL,
    reason          TEXT NOT NULL
) STRICT;
CREATE INDEX gateway_dropped_person ON gateway_dropped (person_id);
