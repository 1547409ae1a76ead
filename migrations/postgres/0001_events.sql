-- kubetrail's store on PostgreSQL: the events and what they refer to (shared/storage/postgres/).
-- Applied at start by every kubetrail that opens the database, under an advisory lock, once.
--
-- A dimension row is found by `key`: the SHA-256 of what identifies it (its JSON, its columns),
-- computed by kubetrail. A B-tree over the values themselves would refuse a row past ~2.7 kB,
-- and audit input (a user's extras, an annotation, an object name sent to the webhook) is any size.

CREATE TABLE strings (
  id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key   bytea NOT NULL UNIQUE,
  value text NOT NULL
);

CREATE TABLE verbs (
  id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key  bytea NOT NULL UNIQUE,
  verb text NOT NULL
);

CREATE TABLE api_resources (
  id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key         bytea NOT NULL UNIQUE,
  api_group   text NOT NULL,
  api_version text NOT NULL,
  resource    text NOT NULL,
  subresource text NOT NULL,
  present     smallint NOT NULL
);

CREATE TABLE objects (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key       bytea NOT NULL UNIQUE,
  api_group text NOT NULL,
  resource  text NOT NULL,
  namespace text NOT NULL,
  name      text NOT NULL,
  uid       text NOT NULL
);
CREATE INDEX objects_name ON objects (resource, namespace, name);

-- A user as stored: whole, or its stable part when its tokens are stored apart (identity/userParts.ts).
CREATE TABLE principals (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key      bytea NOT NULL UNIQUE,
  json     text NOT NULL,
  username text NOT NULL
);
CREATE INDEX principals_username ON principals (username);

-- A bound token's own values (credential id, pod, node), with the principal it was first stored with.
CREATE TABLE user_tokens (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key           bytea NOT NULL UNIQUE,
  principal_id  bigint NOT NULL,
  credential_id text,
  json          text NOT NULL
);
CREATE INDEX user_tokens_credential ON user_tokens (credential_id) WHERE credential_id IS NOT NULL;

-- One row per stage of a request, partitioned by the UTC day of requestReceivedTimestamp
-- (microseconds). kubetrail creates each day's partition before it stores that day's first
-- event; a time outside the days it creates (a clock years off, crafted input) goes to the
-- default partition instead of making a table. The primary key is the dedupe key: an event sent
-- again, by any writer, is not stored twice.
CREATE TABLE events (
  id               bigint GENERATED ALWAYS AS IDENTITY,
  cluster_id       bigint NOT NULL,
  audit_id         text NOT NULL,
  stage            smallint NOT NULL,
  level            smallint NOT NULL,
  received_at      bigint NOT NULL,
  stage_delay      bigint NOT NULL,
  verb_id          integer NOT NULL,
  user_id          bigint NOT NULL,
  impersonated_id  bigint,
  source_ips_id    bigint,
  user_agent_id    bigint,
  resource_id      integer,
  object_id        bigint,
  resource_version bigint,
  path_id          bigint,
  query            text,
  code             smallint,
  decision         smallint NOT NULL,
  reason_id        bigint,
  annotations_id   bigint,
  shape            smallint NOT NULL,
  residual         text,
  source_version   smallint NOT NULL,
  has_body         smallint NOT NULL,
  token_id         bigint,
  PRIMARY KEY (received_at, cluster_id, audit_id, stage)
) PARTITION BY RANGE (received_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_id ON events (id);
CREATE INDEX events_user ON events (user_id, received_at);
CREATE INDEX events_object ON events (object_id, received_at) WHERE object_id IS NOT NULL;

-- Request and response bodies, redacted and compressed by kubetrail; lz4 where the server has it.
CREATE TABLE bodies (
  event_id    bigint NOT NULL,
  received_at bigint NOT NULL,
  request     bytea,
  response    bytea,
  PRIMARY KEY (event_id)
);
DO $$
BEGIN
  ALTER TABLE bodies ALTER COLUMN request SET COMPRESSION lz4, ALTER COLUMN response SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'this server has no lz4: bodies keep its default compression';
END $$;

-- Input that could not be stored as an event, kept in its safe (redacted) form.
CREATE TABLE quarantine (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at bigint NOT NULL,
  source      text NOT NULL,
  cluster     text NOT NULL,
  position    text NOT NULL,
  reason      text NOT NULL,
  raw         bytea,
  raw_size    bigint NOT NULL,
  raw_sha256  text
);

-- Where `kubetrail ingest --follow` stopped in each file, saved with the events.
CREATE TABLE follow_offsets (
  path       text PRIMARY KEY,
  cluster    text NOT NULL,
  device     bigint NOT NULL,
  inode      bigint NOT NULL,
  head_hash  text NOT NULL,       -- SHA-256 of the file's first line: finds it again after rotation
  "offset"   bigint NOT NULL,
  line       bigint NOT NULL,
  updated_at bigint NOT NULL
);
