-- Alerts raised by the detections, as in SQLite (migrations/0003, 0004, 0008, 0009, 0017), and
-- break-glass checkouts. Every writer records findings into the same alerts: a writer holds a
-- transaction-scoped advisory lock per (rule, cluster, dedupe key) while it joins or opens an
-- alert, so that two writers seeing the same finding raise one alert, not one each.
CREATE TABLE alerts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rule            text NOT NULL,
  severity        text NOT NULL,
  dedupe_key      text NOT NULL,
  cluster         text NOT NULL,
  first_at        bigint NOT NULL,
  last_at         bigint NOT NULL,
  actor           text NOT NULL,
  effective_user  text NOT NULL,
  person          text,
  count           bigint NOT NULL,
  message         text NOT NULL,
  pci             text NOT NULL,
  status          text NOT NULL DEFAULT 'open',
  checkout_id     bigint,
  raised_at       bigint NOT NULL,
  identity        text,
  acked_by        text,
  acked_at        bigint,
  resolved_by     text,
  resolved_at     bigint,
  identity_values text
);
-- By a hash of the dedupe key: the key is input (a username, an address) of any length.
CREATE INDEX alerts_open ON alerts (rule, cluster, md5(dedupe_key), last_at) WHERE status = 'open';
CREATE INDEX alerts_time ON alerts (first_at, id);

-- The requests behind an alert: up to 1,000 auditIDs each.
CREATE TABLE alert_events (
  alert_id    bigint NOT NULL REFERENCES alerts (id),
  audit_id    text NOT NULL,
  received_at bigint,
  rule        text,
  PRIMARY KEY (alert_id, audit_id)
);
CREATE INDEX alert_events_rule ON alert_events (rule, received_at, audit_id);

-- Break-glass checkouts: a shared account's actions within [from_at, until_at) are the person's.
CREATE TABLE breakglass_checkouts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account     text NOT NULL,
  person      text NOT NULL,
  approved_by text NOT NULL,
  reason      text NOT NULL,
  ticket      text NOT NULL,
  from_at     bigint NOT NULL,
  until_at    bigint NOT NULL,
  created_at  bigint NOT NULL,
  closed_at   bigint
);
CREATE INDEX breakglass_account ON breakglass_checkouts (account, from_at);
