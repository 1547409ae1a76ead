-- `--user` matches the actor or the impersonated user: the impersonated side gets an index of
-- its own (impersonation is rare, so the index is small).
CREATE INDEX events_impersonated ON events (impersonated_id, received_at) WHERE impersonated_id IS NOT NULL;
