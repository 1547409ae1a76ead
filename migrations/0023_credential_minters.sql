-- Who requested (TokenRequest) the credentials each principal used, maintained as events are
-- stored (storage/sqlite/tables/credentialMinters.ts): the identities list read it by joining every token a
-- service account used with its minting event, 11 s on a store of 330k short-lived tokens.
-- Like the activity rollups, it stays when retention archives the minting event.
CREATE TABLE credential_minters (
  principal_id INTEGER NOT NULL,   -- principals.id of the user (its stable part, when stored split)
  minter_id    INTEGER NOT NULL,   -- principals.id of the user whose TokenRequest issued one of its credentials
  PRIMARY KEY (principal_id, minter_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO credential_minters (principal_id, minter_id)
SELECT u.principal_id, e.user_id
FROM (SELECT principal_id, credential_id FROM user_tokens WHERE credential_id IS NOT NULL
      UNION SELECT principal_id, credential_id FROM identities WHERE credential_id IS NOT NULL) u
JOIN issued_credentials ic ON ic.credential_id = u.credential_id
JOIN events e ON e.id = ic.event_id;

-- An identity's credential ids counted, and its newest listed, from an index of the tokens
-- that carry one.
CREATE INDEX user_tokens_principal_credential ON user_tokens (principal_id, credential_id) WHERE credential_id IS NOT NULL;
