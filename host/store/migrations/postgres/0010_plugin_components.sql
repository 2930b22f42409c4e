-- muster state on PostgreSQL, schema 10: plugin components (see the SQLite file of the same
-- number).
CREATE TABLE plugin_components (
    plugin          TEXT NOT NULL,
    version         TEXT NOT NULL,
    component       BYTEA NOT NULL,
    PRIMARY KEY (plugin, version)
);
