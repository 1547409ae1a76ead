-- RBAC snapshots: the RBAC objects of a cluster as loaded at one time, from files or from the
-- live cluster. Every load is kept (history), so that changes can be shown and actions judged
-- against the RBAC of their time.
CREATE TABLE rbac_snapshots (
  id INTEGER PRIMARY KEY,
  cluster TEXT NOT NULL,
  taken_at INTEGER NOT NULL,  -- microseconds since the epoch
  source TEXT NOT NULL,       -- what was read: files, or the cluster's context and server
  state BLOB NOT NULL,        -- the RBAC state as deflated JSON (shared/rbac/types.ts RbacState)
  summary TEXT NOT NULL       -- JSON: objects per kind, kinds skipped, problems, aggregation pending
);
CREATE INDEX rbac_snapshots_time ON rbac_snapshots (cluster, taken_at);
