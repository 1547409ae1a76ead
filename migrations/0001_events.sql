-- Audit events, normalized for size: repeated strings live once in dimension tables, and
-- every field of a Metadata-level event can be rebuilt from a row and its dimensions.
-- Timestamps are integer microseconds since the epoch (UTC).

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
);

-- Verbs, with fixed ids for the standard ones so that reads (1-3) and changes (> 3) can be told
-- apart in an index condition.
CREATE TABLE verbs (
  id   INTEGER PRIMARY KEY,
  verb TEXT NOT NULL UNIQUE
);
INSERT INTO verbs (id, verb) VALUES
  (1, 'get'), (2, 'list'), (3, 'watch'),
  (4, 'create'), (5, 'update'), (6, 'patch'), (7, 'delete'), (8, 'deletecollection');

-- Scalar strings seen again and again: clusters, user agents, reasons, request paths,
-- sourceIPs lists and the JSON of non-authorization annotations.
CREATE TABLE strings (
  id    INTEGER PRIMARY KEY,
  value TEXT NOT NULL UNIQUE
);

-- One row per distinct UserInfo (username, uid, groups, extra) exactly as received.
CREATE TABLE principals (
  id       INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  json     TEXT NOT NULL UNIQUE
);
CREATE INDEX principals_username ON principals (username);

-- The shape of an objectRef apart from the object's identity: group, version, resource,
-- subresource, and a bit mask of which objectRef keys were present.
CREATE TABLE api_resources (
  id          INTEGER PRIMARY KEY,
  api_group   TEXT NOT NULL,
  api_version TEXT NOT NULL,
  resource    TEXT NOT NULL,
  subresource TEXT NOT NULL,
  present     INTEGER NOT NULL,
  UNIQUE (resource, subresource, api_group, api_version, present)
);

-- The object a request targets ('' where the objectRef had no such key).
CREATE TABLE objects (
  id        INTEGER PRIMARY KEY,
  api_group TEXT NOT NULL,
  resource  TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name      TEXT NOT NULL,
  uid       TEXT NOT NULL,
  UNIQUE (resource, namespace, name, api_group, uid)
);

-- One row per request stage: re-delivered events are duplicates. The key leads with
-- requestReceivedTimestamp, which every stage and every re-delivery of a request carries
-- unchanged, so that inserts land at the right edge of the index instead of at a random page
-- (spec/sqlite-facts.md); (cluster, auditID, stage) within it is what identifies the event.
CREATE TABLE events (
  id               INTEGER PRIMARY KEY,
  cluster_id       INTEGER NOT NULL,   -- strings
  audit_id         BLOB NOT NULL,      -- 16 bytes for a lower-case UUID, else the text
  stage            INTEGER NOT NULL,   -- 0 RequestReceived, 1 ResponseStarted, 2 ResponseComplete, 3 Panic
  level            INTEGER NOT NULL,   -- 0 None, 1 Metadata, 2 Request, 3 RequestResponse
  received_at      INTEGER NOT NULL,   -- requestReceivedTimestamp
  stage_delay      INTEGER NOT NULL,   -- stageTimestamp - requestReceivedTimestamp
  verb_id          INTEGER NOT NULL,   -- verbs
  user_id          INTEGER NOT NULL,   -- principals
  impersonated_id  INTEGER,            -- principals
  source_ips_id    INTEGER,            -- strings: JSON list
  user_agent_id    INTEGER,            -- strings
  resource_id      INTEGER,            -- api_resources; NULL for non-resource requests
  object_id        INTEGER,            -- objects
  resource_version INTEGER,            -- objectRef.resourceVersion when it is a plain integer
  path_id          INTEGER,            -- strings: request path, NULL when it is the one objectRef implies
  query            TEXT,               -- requestURI after '?'
  code             INTEGER,            -- responseStatus.code
  decision         INTEGER NOT NULL,   -- authorization.k8s.io/decision: 0 absent, 1 allow, 2 forbid
  reason_id        INTEGER,            -- strings: authorization.k8s.io/reason
  annotations_id   INTEGER,            -- strings: JSON of the other annotations
  shape            INTEGER NOT NULL,   -- bits: 1 responseStatus present, 2 its metadata is {}, 4 annotations present
  residual         TEXT,               -- JSON of every field the columns above do not hold
  source_version   INTEGER NOT NULL,   -- 0 v1, 1 v1beta1, 2 v1alpha1; +4 when the version was inferred
  has_body         INTEGER NOT NULL    -- 1 when a row in bodies holds request/response objects
);
CREATE UNIQUE INDEX events_key ON events (received_at, audit_id, stage, cluster_id);
CREATE INDEX events_user ON events (user_id, received_at);
CREATE INDEX events_object ON events (object_id, received_at) WHERE object_id IS NOT NULL;
-- Who changed what: every verb but get, list and watch (reads by verb are most of the table anyway).
CREATE INDEX events_changes ON events (verb_id, received_at) WHERE verb_id > 3;
CREATE INDEX events_denied ON events (received_at) WHERE decision = 2;

-- Request/response bodies, redacted, then compressed (raw deflate of the JSON text).
CREATE TABLE bodies (
  event_id INTEGER PRIMARY KEY REFERENCES events (id),
  request  BLOB,
  response BLOB
);

-- Input that could not be stored as an event, kept for inspection and replay.
CREATE TABLE quarantine (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  source      TEXT NOT NULL,          -- webhook, file, kafka
  cluster     TEXT NOT NULL,
  position    TEXT NOT NULL,          -- file:line, item N, ...
  reason      TEXT NOT NULL,
  raw         BLOB NOT NULL,          -- up to the configured cap
  raw_size    INTEGER NOT NULL        -- size of the whole input, to show what was cut
);
CREATE INDEX quarantine_time ON quarantine (received_at);

-- Where `kubetrail ingest --follow` is in each followed file, committed with the events.
CREATE TABLE follow_offsets (
  path        TEXT PRIMARY KEY,
  cluster     TEXT NOT NULL,
  device      INTEGER NOT NULL,
  inode       INTEGER NOT NULL,
  head_hash   TEXT NOT NULL,          -- SHA-256 of the file's first line: finds it again after rotation
  offset      INTEGER NOT NULL,
  line        INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
