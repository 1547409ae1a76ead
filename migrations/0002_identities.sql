-- Who is behind each principal (spec/k8s-audit.md §8): derived from its UserInfo when the
-- principal is first stored, and attributed to a person and team by the identity map.
-- An action's actor is its events.user_id; its effective identity is impersonated_id, else user_id.
CREATE TABLE identities (
  principal_id    INTEGER PRIMARY KEY REFERENCES principals (id),
  kind            TEXT NOT NULL,     -- human, serviceaccount, node, control-plane, anonymous, unauthenticated
  identity_key    TEXT NOT NULL,     -- the EKS caller ARN, else the username
  credential_kind TEXT NOT NULL,     -- client-certificate, bound-token, legacy-token, bootstrap-token, jwt, unknown
  credential_id   TEXT,              -- authentication.kubernetes.io/credential-id: X509SHA256=… or JTI=…
  sa_namespace    TEXT,
  sa_name         TEXT,
  node            TEXT,
  bound_pod       TEXT,
  bound_node      TEXT,
  cloud           TEXT,              -- JSON: EKS IAM principal or GKE service account
  person          TEXT,              -- from the identity map, or the identity's own e-mail
  team            TEXT
);
CREATE INDEX identities_key ON identities (identity_key);
CREATE INDEX identities_person ON identities (person) WHERE person IS NOT NULL;
CREATE INDEX identities_credential ON identities (credential_id) WHERE credential_id IS NOT NULL;
