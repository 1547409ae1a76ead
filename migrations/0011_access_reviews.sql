-- Access reviews (PCI DSS 7.2.4, 7.2.5.1): what each review showed the reviewers, and their
-- decisions. Kept: past reviews stay queryable, and the next export shows what changed since.
CREATE TABLE access_reviews (
  id           INTEGER PRIMARY KEY,
  created_at   INTEGER NOT NULL,      -- microseconds
  created_by   TEXT NOT NULL,         -- OS user and host of the export
  cluster      TEXT NOT NULL,
  window_since INTEGER NOT NULL,      -- microseconds
  window_until INTEGER NOT NULL,
  rbac         TEXT NOT NULL,         -- the snapshot reviewed
  subjects     TEXT NOT NULL          -- JSON: the subjects as exported (shared/rbac/accessReview.ts)
);

CREATE TABLE access_review_decisions (
  id          INTEGER PRIMARY KEY,
  review_id   INTEGER NOT NULL REFERENCES access_reviews (id),
  subject     TEXT NOT NULL,          -- 'User alice', 'Group dev', 'ServiceAccount system:serviceaccount:ns:n'
  decision    TEXT NOT NULL CHECK (decision IN ('keep', 'reduce', 'remove')),
  reviewer    TEXT NOT NULL,
  note        TEXT,
  decided_at  INTEGER NOT NULL        -- microseconds
);
CREATE INDEX access_review_decisions_review ON access_review_decisions (review_id, subject);
