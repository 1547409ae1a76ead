-- Principals are found by a 48-bit hash of their JSON (principal_key(), registered by the store)
-- instead of a UNIQUE index over the whole text: with short-lived credentials nearly every
-- request brings a new principal, and that index doubled what each one cost on disk.
CREATE TABLE principals_keyed (
  id       INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  json     TEXT NOT NULL,
  json_key INTEGER NOT NULL   -- principal_key(json); not unique: a lookup compares json too
);
INSERT INTO principals_keyed (id, username, json, json_key) SELECT id, username, json, principal_key(json) FROM principals;
DROP TABLE principals;
ALTER TABLE principals_keyed RENAME TO principals;
CREATE INDEX principals_username ON principals (username);
CREATE INDEX principals_key ON principals (json_key);
