-- Retention (PCI DSS 10.5.1): a day older than the hot window leaves the database for a
-- compressed COPY file with a SHA-256 manifest tied to the hash chain, and its partition is
-- detached and dropped. Events that arrive later for an archived day (in the default
-- partition) go to a further part of the day's archive.
CREATE TABLE archives (
  day         integer NOT NULL,
  part        integer NOT NULL,
  file        text NOT NULL,
  sha256      text NOT NULL,
  rows        bigint NOT NULL,
  event_ids   bytea NOT NULL,     -- the archived rows' ids, as in chain_links
  links       text NOT NULL,      -- JSON: [[stream, seq, link hash, rows, rows' hash, dimension rows' hash], …] for the day
  archived_at bigint NOT NULL,
  restored_at bigint,
  expired_at  bigint,
  expired_by  text,
  PRIMARY KEY (day, part)
);
