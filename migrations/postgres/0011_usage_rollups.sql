-- Daily rollups of RBAC usage, as in SQLite (migrations/0007): per day, cluster, subject, request
-- attributes, decision and reason, how many actions, first and last. Every writer adds its
-- transaction's sums with upserts (count = count + n) in key order, in the transaction that
-- stores the events: several writers sum exactly and wait for one another, never deadlock.
-- Retention keeps them: reports over a year read them, not the events.

CREATE TABLE rbac_subjects (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key      bytea NOT NULL UNIQUE,
  username text NOT NULL,
  groups   text NOT NULL       -- JSON array, sorted and without repeats
);

-- What the authorizer was asked (spec/rbac.md §1.1), apart from who asked.
CREATE TABLE usage_atoms (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key         bytea NOT NULL UNIQUE,
  verb        text NOT NULL,
  api_group   text NOT NULL,
  resource    text NOT NULL,     -- '' for a non-resource request
  subresource text NOT NULL,
  namespace   text NOT NULL,
  name        text NOT NULL,
  path        text NOT NULL      -- non-resource requests: the URL path; '' otherwise
);

CREATE TABLE usage_daily (
  cluster_id  bigint NOT NULL,   -- strings
  day         integer NOT NULL,  -- days since 1970-01-01 UTC of requestReceivedTimestamp
  subject_id  bigint NOT NULL,   -- rbac_subjects: the effective user (impersonated, else the actor)
  atom_id     bigint NOT NULL,   -- usage_atoms
  decision    smallint NOT NULL, -- 0 unknown, 1 allow, 2 forbid
  reason_id   bigint NOT NULL,   -- strings: authorization.k8s.io/reason; 0 when absent
  synthetic   smallint NOT NULL, -- 1: a check the apiserver made but did not audit (impersonate)
  count       bigint NOT NULL,
  first_at    bigint NOT NULL,
  last_at     bigint NOT NULL,
  first_audit text NOT NULL,     -- auditIDs of the first and last request
  last_audit  text NOT NULL,
  PRIMARY KEY (cluster_id, day, subject_id, atom_id, decision, reason_id, synthetic)
);

-- Requests of which more than one stored stage may count as use (long-running requests, and
-- any ResponseStarted): the first writer to claim one counts it. Other writers storing
-- another stage of it at the same moment wait on the key, then see the claim.
CREATE TABLE usage_claims (
  received_at bigint NOT NULL,
  cluster_id  bigint NOT NULL,
  audit_id    text NOT NULL,
  PRIMARY KEY (received_at, cluster_id, audit_id)
);

-- Flags a kubetrail acts on when it opens the store.
CREATE TABLE store_flags (
  key text PRIMARY KEY
);
-- Events stored before this migration have no rollups yet: built at the next start.
INSERT INTO store_flags (key) SELECT 'usage_rollups_rebuild' WHERE EXISTS (SELECT 1 FROM events);
