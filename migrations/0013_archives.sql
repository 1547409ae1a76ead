-- Retention (PCI DSS 10.5.1): each UTC day older than retention.hotDays is moved to a
-- compressed NDJSON archive with a SHA-256 manifest that names the hash-chain links covering
-- its rows; its raw rows leave the store (the daily rollups stay). A restored day is back in
-- the store for investigation; an archive past retention.days is deleted.
CREATE TABLE archives (
  day          INTEGER PRIMARY KEY,   -- UTC days since 1970
  file         TEXT NOT NULL,         -- the archive, relative to retention.archiveDir
  sha256       TEXT NOT NULL,         -- of the archive file
  rows         INTEGER NOT NULL,
  ids          TEXT NOT NULL,         -- JSON: [[first, last], …] event id ranges it holds
  links        TEXT NOT NULL,         -- JSON: [[seq, link hash, day rows, day hash], …] of the chain
  archived_at  INTEGER NOT NULL,      -- microseconds
  restored_at  INTEGER,               -- set while the day is back in the store
  expired_at   INTEGER                -- the archive was deleted after retention.days
);
