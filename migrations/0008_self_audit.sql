-- kubetrail's own audit trail (PCI DSS 10.2.1.3, 10.3.1): every query API call, every CLI
-- query of the local store, and kubetrail's start, stop and configuration changes.
CREATE TABLE self_audit (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,   -- wall clock, microseconds
  channel  TEXT NOT NULL,      -- api, cli, service
  actor    TEXT NOT NULL,      -- API token name, OS user, or kubetrail itself
  role     TEXT,               -- the API token's role
  source   TEXT,               -- the client address, or the host of a CLI query
  action   TEXT NOT NULL,      -- METHOD /path, the CLI command, start, stop, config-change
  query    TEXT,               -- JSON: the query parameters, or the command line
  rows     INTEGER,            -- rows returned
  status   INTEGER,            -- HTTP status, or the CLI exit code
  detail   TEXT                -- the error message, or what changed
);
CREATE INDEX self_audit_time ON self_audit (at);

-- Who acknowledged or resolved an alert, and when.
ALTER TABLE alerts ADD COLUMN acked_by TEXT;
ALTER TABLE alerts ADD COLUMN acked_at INTEGER;
ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
ALTER TABLE alerts ADD COLUMN resolved_at INTEGER;

-- The request time of each auditID behind an alert, so that the actions behind a finding are
-- found through the events' key instead of a scan (NULL for rows kept before this column).
ALTER TABLE alert_events ADD COLUMN received_at INTEGER;
