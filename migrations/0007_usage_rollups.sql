-- RBAC usage, rolled up by day at ingest so that long windows need not rescan events
-- (spec/rbac.md §5). One row per day and (cluster, subject, request attributes, decision,
-- reason): what the authorizer was asked (shared/rbac/eventToAttributes.ts), counted once per
-- action (auditID), at its first stage after authorization (ResponseStarted, ResponseComplete
-- or Panic; RequestReceived precedes the decision).

-- Who RBAC sees: a username with its groups (sorted JSON list). Many principals (one per token,
-- pod or extra) are one subject.
CREATE TABLE rbac_subjects (
  id       INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  groups   TEXT NOT NULL,
  UNIQUE (username, groups)
);

-- What the authorizer was asked (spec/rbac.md §1.1), apart from who asked.
CREATE TABLE usage_atoms (
  id          INTEGER PRIMARY KEY,
  verb        TEXT NOT NULL,
  api_group   TEXT NOT NULL,
  resource    TEXT NOT NULL,      -- '' for a non-resource request
  subresource TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  name        TEXT NOT NULL,      -- as authorized: from the request path, or a list's metadata.name field selector
  path        TEXT NOT NULL,      -- non-resource requests: the URL path; '' otherwise
  UNIQUE (verb, api_group, resource, subresource, namespace, name, path)
);

CREATE TABLE usage_daily (
  day         INTEGER NOT NULL,   -- days since 1970-01-01 UTC of requestReceivedTimestamp
  cluster_id  INTEGER NOT NULL,   -- strings
  subject_id  INTEGER NOT NULL,   -- rbac_subjects: the effective user (impersonated, else the actor)
  atom_id     INTEGER NOT NULL,   -- usage_atoms
  decision    INTEGER NOT NULL,   -- 0 unknown, 1 allow, 2 forbid
  reason_id   INTEGER NOT NULL,   -- strings: authorization.k8s.io/reason; 0 when absent
  synthetic   INTEGER NOT NULL,   -- 1: a check the apiserver made but did not audit (impersonate), derived from the request
  count       INTEGER NOT NULL,
  first_at    INTEGER NOT NULL,
  last_at     INTEGER NOT NULL,
  first_audit BLOB NOT NULL,      -- auditIDs of the first and last request (16 bytes for a UUID, else the text)
  last_audit  BLOB NOT NULL,
  PRIMARY KEY (day, cluster_id, subject_id, atom_id, decision, reason_id, synthetic)
) WITHOUT ROWID;

-- The rollups of the actions stored before this migration are built when the store is next
-- opened for writing (shared/storage/sqlite/tables/usageRollups.ts), from the events themselves.
INSERT INTO meta (key, value) SELECT 'usage_rollups_rebuild', 'pending' WHERE EXISTS (SELECT 1 FROM events);
