-- muster state, schema 4: gateway lists and look-ups that do not scan the directory.

-- Lists page in creation order (`ORDER BY created, id` with LIMIT/OFFSET, or after a key)
-- by walking this index, instead of sorting every resource of the kind.
CREATE INDEX gateway_resources_created ON gateway_resources (kind, created, id);

-- `externalId eq "…"` (Entra matches on it) finds its resources without a scan. externalId is
-- case-exact (RFC 7643 §3.1), so the index keeps SQLite's exact collation; it is not unique.
CREATE INDEX gateway_resources_external_id ON gateway_resources (kind, external_id, created, id);
