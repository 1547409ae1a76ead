-- Each cluster's first and last stored request time, kept by the writer in the transaction
-- that stores its events: the ingest status lists every cluster that holds events, however old
-- (the recent rollups missed a cluster of old captures), without a scan of the events.
CREATE TABLE cluster_spans (
  cluster_id INTEGER PRIMARY KEY,   -- strings
  first_at   INTEGER NOT NULL,      -- microseconds
  last_at    INTEGER NOT NULL
);
INSERT INTO cluster_spans (cluster_id, first_at, last_at)
  SELECT cluster_id, min(received_at), max(received_at) FROM events GROUP BY cluster_id;
