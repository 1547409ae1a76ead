-- Tamper evidence (PCI DSS 10.3.4): every transaction that stores events appends one link.
-- A link covers the events it added (ids first_event..last_event, all of them), the dimension
-- rows added since the previous link (their ids up to dims), and the previous link's hash; so
-- altering, deleting or inserting any of them behind kubetrail's back breaks the chain from
-- there (kubetrail verify). Events are grouped by UTC day of their request time, each day's rows
-- hashed apart, so that a day moved to an archive keeps its place in the chain.
CREATE TABLE chain_links (
  seq          INTEGER PRIMARY KEY,   -- 1, 2, … in commit order
  committed_at INTEGER NOT NULL,      -- microseconds
  first_event  INTEGER NOT NULL,      -- events.id, inclusive
  last_event   INTEGER NOT NULL,      -- events.id, inclusive
  dims         TEXT NOT NULL,         -- JSON: highest id of each chained dimension table at this link
  days         TEXT NOT NULL,         -- JSON: [[day, rows, sha256 hex of the day's rows], …], day = UTC days since 1970
  row_digests  BLOB NOT NULL,         -- 4 bytes per event id first..last (FNV-1a): finds the row that differs
  link         BLOB NOT NULL          -- SHA-256 of the previous link and this one's content
);
