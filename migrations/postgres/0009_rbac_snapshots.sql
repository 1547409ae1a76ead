-- RBAC snapshots (kubetrail rbac load), as in SQLite (migrations/0005): the state compressed by
-- kubetrail, its summary as JSON.
CREATE TABLE rbac_snapshots (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster  text NOT NULL,
  taken_at bigint NOT NULL,
  source   text NOT NULL,
  state    bytea NOT NULL,
  summary  text NOT NULL
);
CREATE INDEX rbac_snapshots_cluster ON rbac_snapshots (cluster, taken_at);
