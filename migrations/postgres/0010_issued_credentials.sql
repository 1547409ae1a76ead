-- TokenRequests that issued a credential (the audit annotation
-- authentication.kubernetes.io/issued-credential-id), by the request's event and its user: the
-- identities list names who requested the tokens an identity used. A hash index: the id is
-- input of any length.
CREATE TABLE issued_credentials (
  credential_id text NOT NULL,
  event_id      bigint NOT NULL,
  minter_id     bigint NOT NULL
);
CREATE INDEX issued_credentials_id ON issued_credentials USING hash (credential_id);
