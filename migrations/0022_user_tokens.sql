-- A bound service-account token's own values (its credential id, and the pod and node it is
-- bound to) are stored apart from its user (shared/identity/userParts.ts): with short-lived
-- tokens nearly every request brought a new principal, an identity and their indexes, at
-- about 1 KB each. Principals stored before keep their whole user and no token.
CREATE TABLE user_tokens (
  id            INTEGER PRIMARY KEY,
  principal_id  INTEGER NOT NULL,   -- principals.id of the stable part it was first stored with
  credential_id TEXT,               -- JTI=…, when the token carries one
  json          TEXT NOT NULL,      -- its other values: {"pod-name": "…", "node-uid": "…", …} (userParts.ts tokenRow)
  json_key      INTEGER NOT NULL    -- hash of json and credential_id (dimensions.ts); not unique: a lookup compares them too
);
CREATE INDEX user_tokens_key ON user_tokens (json_key);
CREATE INDEX user_tokens_credential ON user_tokens (credential_id) WHERE credential_id IS NOT NULL;
CREATE INDEX user_tokens_principal ON user_tokens (principal_id);

-- user_tokens.id of the actor's token; null when its user is stored whole.
ALTER TABLE events ADD COLUMN token_id INTEGER;
