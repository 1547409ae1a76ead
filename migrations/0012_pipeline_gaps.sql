-- Failures of the audit pipeline (PCI DSS 10.7.2, 10.7.3): a cluster and source that went
-- silent, or whose rate collapsed, with when it started, was detected and ended, and once
-- acknowledged why and what was done. Each raises an audit-pipeline-gap alert.
CREATE TABLE pipeline_gaps (
  id           INTEGER PRIMARY KEY,
  cluster      TEXT NOT NULL,
  source       TEXT NOT NULL,          -- webhook, kafka, file
  kind         TEXT NOT NULL,          -- silence, rate-collapse
  started_at   INTEGER NOT NULL,       -- microseconds: the last arrival before it, or the window it began in
  detected_at  INTEGER NOT NULL,
  ended_at     INTEGER,                -- NULL while open
  expected     INTEGER NOT NULL,       -- events a window normally brings
  window_ms    INTEGER NOT NULL,
  late_events  INTEGER NOT NULL DEFAULT 0,  -- 1: events from inside it arrived later (delayed, not lost)
  alert_id     INTEGER REFERENCES alerts (id),
  cause        TEXT,
  remediation  TEXT,
  acked_by     TEXT,
  acked_at     INTEGER
);
CREATE INDEX pipeline_gaps_open ON pipeline_gaps (cluster, source) WHERE ended_at IS NULL;
CREATE INDEX pipeline_gaps_time ON pipeline_gaps (started_at);
