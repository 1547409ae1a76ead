-- An alert joins many requests: when they differ in actor, effective user or person, the
-- distinct values (JSON {"actor": [...], "effectiveUser": [...], "person": [...], "more": [...]},
-- at most 10 each) are kept here; NULL while every request shares the alert's own columns.
ALTER TABLE alerts ADD COLUMN identity_values TEXT;
