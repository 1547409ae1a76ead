-- What the pipeline watch has learned of each cluster and source (shared/detect/pipelineGaps.ts),
-- kept so that a restarted serve knows the rates at once: without it, gaps could not be seen
-- for the first windows after a start, and kubetrail's own downtime would go unrecorded.
CREATE TABLE pipeline_streams (
  cluster       TEXT NOT NULL,
  source        TEXT NOT NULL,
  window_ms     INTEGER NOT NULL,   -- the window the rate is for (gap.minutes)
  baseline      REAL NOT NULL,      -- events a window normally brings
  learned       INTEGER NOT NULL,   -- windows the rate was learned from
  last_arrival  INTEGER NOT NULL,   -- milliseconds: when events last came
  PRIMARY KEY (cluster, source)
);
