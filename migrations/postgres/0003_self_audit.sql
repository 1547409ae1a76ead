-- kubetrail's own audit trail (PCI DSS 10.2.1.3, 10.3.1): every query of this store, from the
-- CLI and the API, and kubetrail's start, stop and configuration changes. As in SQLite.
CREATE TABLE self_audit (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      bigint NOT NULL,     -- wall clock, microseconds
  channel text NOT NULL,       -- api, cli, service
  actor   text NOT NULL,       -- API token name, OS user, or kubetrail itself
  role    text,                -- the API token's role
  source  text,                -- the client address, or the host of a CLI query
  action  text NOT NULL,       -- METHOD /path, the CLI command, start, stop, config-change
  query   text,                -- JSON: the query parameters, or the command line
  rows    bigint,              -- rows returned
  status  integer,             -- HTTP status, or the CLI exit code
  detail  text,                -- the error message, or what changed
  count   integer NOT NULL DEFAULT 1
);
CREATE INDEX self_audit_time ON self_audit (at);
