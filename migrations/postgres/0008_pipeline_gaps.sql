-- The audit pipeline's own failures (PCI DSS 10.7.2), as in SQLite (migrations/0012, 0014),
-- watched across every writer: each transaction that takes events records their arrival
-- (cluster, source, how many, the earliest request time), and the one kubetrail that holds the
-- watch's lock learns each stream's rate from all of them and records gaps once.
CREATE TABLE pipeline_arrivals (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      bigint NOT NULL,      -- the writer's wall clock, microseconds
  cluster text NOT NULL,
  source  text NOT NULL,
  events  integer NOT NULL,
  oldest  bigint NOT NULL       -- earliest request time among them, microseconds
);
CREATE INDEX pipeline_arrivals_at ON pipeline_arrivals (at);

CREATE TABLE pipeline_streams (
  cluster      text NOT NULL,
  source       text NOT NULL,
  window_ms    bigint NOT NULL,
  baseline     double precision NOT NULL,
  learned      integer NOT NULL,
  last_arrival bigint NOT NULL,   -- milliseconds
  PRIMARY KEY (cluster, source)
);

CREATE TABLE pipeline_gaps (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster     text NOT NULL,
  source      text NOT NULL,
  kind        text NOT NULL,
  started_at  bigint NOT NULL,
  detected_at bigint NOT NULL,
  ended_at    bigint,
  expected    bigint NOT NULL,
  window_ms   bigint NOT NULL,
  late_events smallint NOT NULL DEFAULT 0,
  alert_id    bigint REFERENCES alerts (id),
  cause       text,
  remediation text,
  acked_by    text,
  acked_at    bigint
);
CREATE INDEX pipeline_gaps_open ON pipeline_gaps (cluster, source) WHERE ended_at IS NULL;
CREATE INDEX pipeline_gaps_time ON pipeline_gaps (started_at);
