-- Alerts raised at ingest (shared/detect): one row per rule, key and cluster within the
-- throttle window, with a count and the contributing requests.
CREATE TABLE alerts (
  id             INTEGER PRIMARY KEY,
  rule           TEXT NOT NULL,      -- finding id (spec/pci.md)
  severity       TEXT NOT NULL,      -- low, medium, high, critical
  dedupe_key     TEXT NOT NULL,      -- what the rule groups by: the identity, an address, …
  cluster        TEXT NOT NULL,
  first_at       INTEGER NOT NULL,   -- requestReceivedTimestamp of the first contributing request
  last_at        INTEGER NOT NULL,   -- … and of the last
  actor          TEXT NOT NULL,      -- username holding the credential, first request
  effective_user TEXT NOT NULL,      -- username whose permissions were used
  person         TEXT,               -- identity map, or break-glass checkout
  count          INTEGER NOT NULL,   -- contributing requests
  message        TEXT NOT NULL,
  pci            TEXT NOT NULL,      -- JSON list of PCI DSS v4.0 requirements
  status         TEXT NOT NULL DEFAULT 'open',  -- open, acknowledged, resolved
  checkout_id    INTEGER,            -- attributed break-glass use: the checkout
  raised_at      INTEGER NOT NULL    -- wall clock when kubetrail raised it, microseconds
);
CREATE INDEX alerts_open ON alerts (rule, dedupe_key, cluster, last_at) WHERE status = 'open';
CREATE INDEX alerts_time ON alerts (first_at);

-- The requests behind an alert: up to 1,000 auditIDs each.
CREATE TABLE alert_events (
  alert_id INTEGER NOT NULL REFERENCES alerts (id),
  audit_id TEXT NOT NULL,
  PRIMARY KEY (alert_id, audit_id)
) WITHOUT ROWID;

-- Break-glass checkouts: a shared account's actions within [from_at, until_at) are the person's.
CREATE TABLE breakglass_checkouts (
  id          INTEGER PRIMARY KEY,
  account     TEXT NOT NULL,
  person      TEXT NOT NULL,
  approved_by TEXT NOT NULL,
  reason      TEXT NOT NULL,
  ticket      TEXT NOT NULL,
  from_at     INTEGER NOT NULL,
  until_at    INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  closed_at   INTEGER            -- closed early: the window ends here
);
CREATE INDEX breakglass_account ON breakglass_checkouts (account, from_at);

-- Delivery of alerts to each sink (services/alerter): retried from here, never lost.
CREATE TABLE alert_deliveries (
  alert_id     INTEGER NOT NULL REFERENCES alerts (id),
  sink         TEXT NOT NULL,
  state        TEXT NOT NULL,      -- pending, delivered
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER NOT NULL,   -- microseconds: not before
  last_error   TEXT,
  delivered_at INTEGER,
  PRIMARY KEY (alert_id, sink)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_at) WHERE state = 'pending';
