-- muster state, schema 7: the memo of plugin answers.

-- The last answer each plugin gave each person, and the key it was given under (the first 128
-- bits of a sha256 of the plugin version, its configuration document and the input it was
-- shown). A call whose key matches is answered from here without running the plugin. One row
-- per plugin and person; the rows of a version no longer pinned are deleted after each cycle.
CREATE TABLE plugin_answers (
    plugin          TEXT NOT NULL,
    person          TEXT NOT NULL,
    key             BLOB NOT NULL,
    version         TEXT NOT NULL,
    answer          TEXT NOT NULL,           -- JSON engine::memo::Answer
    PRIMARY KEY (plugin, person)
) STRICT, WITHOUT ROWID;
-- Whether a pinned version has answers, and which versions to prune, without reading answers.
CREATE INDEX plugin_answers_version ON plugin_answers (plugin, version);
