-- Delivery of alerts to each sink (services/alerter), as in SQLite: retried from here, never
-- lost. Several alerters may share the database: a batch one claims is leased to it (next_at
-- moves to the lease's end) and taken by another only if it does not report back in time.
CREATE TABLE alert_deliveries (
  alert_id     bigint NOT NULL REFERENCES alerts (id),
  sink         text NOT NULL,
  state        text NOT NULL,      -- pending, delivered
  attempts     integer NOT NULL DEFAULT 0,
  next_at      bigint NOT NULL,    -- microseconds: not before
  last_error   text,
  delivered_at bigint,
  PRIMARY KEY (alert_id, sink)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (sink, next_at) WHERE state = 'pending';

-- Each sink's point up to which alerts have been given deliveries: alerts raised from `since`
-- on are looked at again (ids are not in commit order when several writers raise alerts).
CREATE TABLE alert_sinks (
  sink  text PRIMARY KEY,
  since bigint NOT NULL
);
CREATE INDEX alerts_raised ON alerts (raised_at);
