-- The hash chain (PCI DSS 10.3.4), one per writer: each kubetrail that writes the database opens
-- a stream, and each of its transactions that stores events appends a link to it, so that
-- writers never wait on one chain head. A link records the ids of the event rows it added, a
-- hash per UTC day of those rows (a day moved to an archive keeps its place), a hash of the
-- dimension rows they point to, and the previous link. `kubetrail verify` recomputes every
-- stream from the rows as they are now (shared/storage/postgres/pgChain.ts).
CREATE TABLE chain_streams (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  writer     text NOT NULL,       -- host and process that wrote it
  started_at bigint NOT NULL      -- wall clock, microseconds
);

CREATE TABLE chain_links (
  stream_id    bigint NOT NULL REFERENCES chain_streams (id),
  seq          bigint NOT NULL,
  committed_at bigint NOT NULL,   -- wall clock, microseconds
  rows         integer NOT NULL,
  event_ids    bytea NOT NULL,    -- the event ids, ascending, as varint deltas
  digests      bytea NOT NULL,    -- each row's CRC-32, in id order: names the row that changed
  days         text NOT NULL,     -- JSON: [[day, rows, rows' SHA-256, dimension rows' SHA-256], …]
  first_day    integer NOT NULL,  -- the days' range, to find a day's links
  last_day     integer NOT NULL,
  link         bytea NOT NULL,    -- SHA-256 of the previous link and all of the above
  PRIMARY KEY (stream_id, seq)
);
CREATE INDEX chain_links_committed ON chain_links (committed_at);
CREATE INDEX chain_links_days ON chain_links (last_day, first_day);
