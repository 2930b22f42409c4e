-- muster state, schema 8: who or what made each plugin version active, and when.

-- One row per activation: an upload, a file of the plugin folder, the configuration at start,
-- a staged version activated, a rollback, a shadow run promoted. The newest 100 per plugin are
-- kept.
CREATE TABLE plugin_activations (
    id              INTEGER PRIMARY KEY,
    plugin          TEXT NOT NULL,
    version         TEXT NOT NULL,
    how             TEXT NOT NULL,           -- upload, folder, configuration, staged, rollback, shadow, start
    by              TEXT NOT NULL,           -- an admin token's id, or what acted
    at              INTEGER NOT NULL         -- unix seconds
) STRICT;
CREATE INDEX plugin_activations_plugin ON plugin_activations (plugin, id);
