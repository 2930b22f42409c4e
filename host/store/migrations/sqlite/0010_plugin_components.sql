-- muster state, schema 10: the components of activated plugin versions, so replicas sharing a
-- database serve the version one of them activated (an upload, a rollback). Kept while an
-- activation of the plugin names the version.
CREATE TABLE plugin_components (
    plugin          TEXT NOT NULL,
    version         TEXT NOT NULL,           -- the component's content hash
    component       BLOB NOT NULL,
    PRIMARY KEY (plugin, version)
) STRICT, WITHOUT ROWID;
