-- An object's history, newest first, read from an index in the order answers are given in
-- (request time, cluster, auditID): the first page of a busy object without sorting all of it
-- (a lease renewed every few seconds has thousands of actions a day).
CREATE INDEX events_object_order ON events (object_id, received_at, cluster_id, audit_id) WHERE object_id IS NOT NULL;
DROP INDEX events_object;
