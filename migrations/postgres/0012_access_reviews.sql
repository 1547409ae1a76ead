-- Access reviews (PCI DSS 7.2.4, 7.2.5.1), as in SQLite (migrations/0011): what each review
-- showed the reviewers, and their decisions. Times in microseconds.
CREATE TABLE access_reviews (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at   bigint NOT NULL,
  created_by   text NOT NULL,
  cluster      text NOT NULL,
  window_since bigint NOT NULL,
  window_until bigint NOT NULL,
  rbac         text NOT NULL,
  subjects     text NOT NULL       -- JSON: the subjects as exported (shared/rbac/accessReview.ts)
);
CREATE INDEX access_reviews_cluster ON access_reviews (cluster, id);

CREATE TABLE access_review_decisions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  review_id   bigint NOT NULL REFERENCES access_reviews (id),
  subject     text NOT NULL,
  decision    text NOT NULL CHECK (decision IN ('keep', 'reduce', 'remove')),
  reviewer    text NOT NULL,
  note        text,
  decided_at  bigint NOT NULL
);
CREATE INDEX access_review_decisions_review ON access_review_decisions (review_id, subject);
