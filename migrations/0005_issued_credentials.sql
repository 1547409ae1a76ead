-- Tokens minted by TokenRequest (annotation authentication.kubernetes.io/issued-credential-id,
-- spec/k8s-audit.md §8.2): joined with later events' credential-id, a token's use is traced
-- back to the identity that requested it.
CREATE TABLE issued_credentials (
  credential_id TEXT PRIMARY KEY,     -- JTI=…
  event_id      INTEGER NOT NULL REFERENCES events (id)
) WITHOUT ROWID;
