-- muster state, schema 2: gateway mode. What Entra ID pushed to muster's SCIM endpoint (the
-- source view), and the outbox of changes still to forward to the target.

-- Users and groups as Entra sent them, with the server-owned parts (id, meta) in columns.
-- `name` is the userName (users) or displayName (groups): unique per kind, ignoring case.
CREATE TABLE gateway_resources (
    kind            TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
    id              TEXT NOT NULL,
    name            TEXT NOT NULL COLLATE NOCASE,
    external_id     TEXT,
    body            TEXT NOT NULL,           -- JSON, the resource without `id` and `meta`
    version         INTEGER NOT NULL,
    created         INTEGER NOT NULL,        -- unix milliseconds
    last_modified   INTEGER NOT NULL,        -- unix milliseconds
    PRIMARY KEY (kind, id),
    UNIQUE (kind, name)
) STRICT;

-- Group membership, the reverse index of each group's `members` (kept in `body` too): which
-- groups a person is in is read on every change to that person.
CREATE TABLE gateway_members (
    group_id        TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
) STRICT;
CREATE INDEX gateway_members_member ON gateway_members (member_id);

-- Changes accepted from Entra and not yet forwarded: one row per change to one person, in
-- order (`seq`). `person` is the person as the pipeline sees them at that change (JSON), or
-- NULL when Entra deleted them. Only the oldest row of a person is ever worked on.
CREATE TABLE gateway_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT NOT NULL,
    person          TEXT,
    enqueued_at     INTEGER NOT NULL,        -- unix milliseconds
    attempts        INTEGER NOT NULL DEFAULT 0,
    rejections      INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER NOT NULL,        -- unix milliseconds
    last_error      TEXT
) STRICT;
CREATE INDEX gateway_outbox_person ON gateway_outbox (person_id, seq);
