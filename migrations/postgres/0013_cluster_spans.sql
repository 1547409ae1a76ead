-- Each cluster's first and last stored request time, as in SQLite (migrations/0024): every
-- writer widens its cluster's span in the transaction that stores the events.
CREATE TABLE cluster_spans (
  cluster_id bigint PRIMARY KEY,
  first_at   bigint NOT NULL,
  last_at    bigint NOT NULL
);
INSERT INTO cluster_spans (cluster_id, first_at, last_at)
  SELECT cluster_id, min(received_at), max(received_at) FROM events GROUP BY cluster_id;
