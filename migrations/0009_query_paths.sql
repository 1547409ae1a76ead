-- What the query API's common questions need to answer from an index (bench/queryLatency.bench.ts).

-- Every object of a namespace (namespace and verb queries).
CREATE INDEX objects_namespace ON objects (namespace);

-- The actions behind a finding, newest first, by rule.
ALTER TABLE alert_events ADD COLUMN rule TEXT;
UPDATE alert_events SET rule = (SELECT rule FROM alerts WHERE alerts.id = alert_events.alert_id);
CREATE INDEX alert_events_rule ON alert_events (rule, received_at);

-- Actions per hour of each principal (as the actor), verb and decision, counted once each at
-- the first stored stage after the authorization decision, as the usage rollups count them:
-- identity timelines without reading the events.
CREATE TABLE activity_hourly (
  principal_id INTEGER NOT NULL,   -- principals: the actor
  hour         INTEGER NOT NULL,   -- hours since 1970-01-01 UTC of requestReceivedTimestamp
  verb_id      INTEGER NOT NULL,   -- verbs
  decision     INTEGER NOT NULL,   -- 0 absent, 1 allow, 2 forbid
  count        INTEGER NOT NULL,
  PRIMARY KEY (principal_id, hour, verb_id, decision)
) WITHOUT ROWID;

-- Built from the events already stored when the store is next opened for writing.
INSERT OR REPLACE INTO meta (key, value) SELECT 'usage_rollups_rebuild', 'pending' WHERE EXISTS (SELECT 1 FROM events);
