-- The actor's identity (its key: the EKS caller ARN, else the username) an alert is about,
-- so that `kubetrail identities` can show each identity's findings.
ALTER TABLE alerts ADD COLUMN identity TEXT;
CREATE INDEX alerts_identity ON alerts (identity) WHERE identity IS NOT NULL;
