-- muster state, schema 1. Times are unix seconds (UTC); JSON columns hold serde_json text.
-- Tables are STRICT so a wrong type is an error at write time, not a surprise at read time.

-- What muster provisioned, one row per source person.
CREATE TABLE records (
    source_id       TEXT PRIMARY KEY NOT NULL,
    -- UNIQUE: a target resource belongs to one source person, or look-ups by target id lie.
    target_id       TEXT NOT NULL UNIQUE,
    matching_value  TEXT NOT NULL,
    last_applied    TEXT NOT NULL,           -- JSON: SCIM path -> value
    license         TEXT,                    -- JSON License, NULL when none
    plugin_versions TEXT NOT NULL,           -- JSON: plugin name -> version
    disabled        INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    updated_at      INTEGER NOT NULL
) STRICT;

-- One row per sync run (scheduled, initial or on demand).
CREATE TABLE cycles (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('initial', 'incremental', 'on_demand')),
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'staged')),
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    counts          TEXT,                    -- JSON CycleCounts, NULL while running
    plugin_versions TEXT NOT NULL            -- JSON: the versions the cycle pinned
) STRICT;

-- The write-ahead of every target request: written before the request, finished after it.
-- A row still 'pending' after a restart is a request whose outcome is unknown.
CREATE TABLE intents (
    id              INTEGER PRIMARY KEY,
    cycle_id        INTEGER NOT NULL REFERENCES cycles (id),
    source_id       TEXT NOT NULL,
    action          TEXT NOT NULL,
    matching_value  TEXT NOT NULL,
    payload         TEXT NOT NULL,           -- JSON
    state           TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    error           TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;
CREATE INDEX intents_pending ON intents (id) WHERE state = 'pending';
CREATE INDEX intents_cycle ON intents (cycle_id);

-- Provisioning log: one row per object per cycle; `detail` is the engine's whole entry.
-- identity and status compare case-insensitively: SCIM userName is not case-exact.
CREATE TABLE logs (
    id              INTEGER PRIMARY KEY,
    cycle_id        INTEGER NOT NULL REFERENCES cycles (id),
    at              INTEGER NOT NULL,
    person_id       TEXT NOT NULL,
    identity        TEXT NOT NULL COLLATE NOCASE,
    action          TEXT NOT NULL,
    status          TEXT NOT NULL COLLATE NOCASE,
    detail          TEXT NOT NULL            -- JSON
) STRICT;
CREATE INDEX logs_cycle ON logs (cycle_id);
CREATE INDEX logs_person ON logs (person_id);
CREATE INDEX logs_identity ON logs (identity);
CREATE INDEX logs_status ON logs (status);

-- Where each source's change feed stopped (Graph delta link, file hash, ...).
CREATE TABLE watermarks (
    source_key      TEXT PRIMARY KEY NOT NULL,
    value           TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- Small facts about the deployment (configuration hash, ...).
CREATE TABLE meta (
    key             TEXT PRIMARY KEY NOT NULL,
    value           TEXT NOT NULL
) STRICT;

-- At most one row: the job is quarantined while it exists.
CREATE TABLE quarantine (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    reason          TEXT NOT NULL,
    since           INTEGER NOT NULL,
    next_attempt    INTEGER NOT NULL
) STRICT;

-- Disables and deletes held back by the accidental-deletion threshold, awaiting an admin.
CREATE TABLE staged_deletes (
    source_id       TEXT PRIMARY KEY NOT NULL,
    cycle_id        INTEGER NOT NULL REFERENCES cycles (id),
    target_id       TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('disable', 'delete')),
    reason          TEXT NOT NULL,
    staged_at       INTEGER NOT NULL
) STRICT;
