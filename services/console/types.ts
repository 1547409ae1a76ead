/** Rows of the query API, as its OpenAPI document (GET /api/v1/openapi.json) describes them. */

export type Decision = 'allow' | 'forbid' | 'unknown';

export interface Action {
  auditID: string;
  time: string;
  cluster: string;
  stage: string;
  verb: string;
  user: string;
  groups: string[];
  impersonatedUser: string | null;
  effectiveUser: string;
  actorKind: string | null;
  person: string | null;
  checkout: number | null;
  credential: string | null;
  sourceIP: string | null;
  userAgent: string | null;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  requestURI: string;
  code: number | null;
  decision: Decision;
  reason: string | null;
}

export interface ActionDetail extends Action {
  bodiesShown: boolean;
  stages: Record<string, unknown>[];
}

export interface Identity {
  identity: string;
  kind: string;
  person: string | null;
  team: string | null;
  usernames: string[];
  credentialKinds: string[];
  credentialIds: string[];
  firstSeen: string;
  lastSeen: string;
  actions: number;
  denied: number;
  findings: Record<string, number>;
  tokensMintedBy: string[];
}

export interface IdentityDetail {
  identity: string;
  kind: string;
  people: Identity[];
}

export interface Timeline {
  identity: string;
  bucket: 'hour' | 'day';
  items: { start: string; verb: string; decision: Decision; actions: number }[];
}

export interface Alert {
  id: number;
  rule: string;
  severity: string;
  time: string;
  lastTime: string;
  cluster: string;
  actor: string;
  effectiveUser: string;
  person: string | null;
  count: number;
  auditIDs: string[];
  message: string;
  status: 'open' | 'acknowledged' | 'resolved';
  pci: string[];
  ackedBy: string | null;
  ackedAt: string | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
}

export interface Checkout {
  id: number;
  account: string;
  person: string;
  approvedBy: string;
  reason: string;
  ticket: string;
  from: string;
  until: string;
  closed: string | null;
}

export interface IngestStatus {
  time: string;
  clusters: { cluster: string; lastEventTime: string | null; eventsPerSecond: number; quarantined: Record<string, number> }[];
  sinceStart: { uptimeSeconds: number; sources: Record<string, Record<string, number>> };
  kafkaLag: { topic: string; partition: number; lag: number }[];
}

export interface Quarantined {
  id: number;
  time: string;
  source: string;
  cluster: string;
  position: string;
  reason: string;
  rawSize: number;
  raw: string;
}

export interface RuleReport {
  rule: string;
  used: boolean;
  count: number;
  lastSeen: string | null;
  danger: string[];
}

export interface SubjectReport {
  kind: 'User' | 'ServiceAccount' | 'Group';
  name: string;
  active: boolean;
  requests: { total: number; allowed: number; denied: number; unknown: number };
  lastSeen: string | null;
  granted: number;
  used: number;
  unused: number;
  usageRatio: number | null;
  judged: boolean;
  note?: string;
  bindings: { binding: string; role: string; via: string; used: boolean; removable: boolean | null; bootstrap: boolean; requests: number; rules: RuleReport[] }[];
  unusedDangerous: { binding: string; role: string; rule: string; danger: string[] }[];
}

export interface UsageReport {
  cluster: string;
  snapshot: string;
  window: { since: string; until: string; days: number; coveredDays: number; minDays: number; sufficient: boolean; note?: string };
  totals: { subjects: number; active: number; bindings: number; unusedBindings: number; removableBindings: number; unusedDangerous: number; drift: number };
  subjects: SubjectReport[];
  neverSeen: { kind: string; name: string; bindings: string[] }[];
  outsideRbac: { subject: string; how: string; count: number }[];
}

export interface Recommendation {
  target: string;
  regressions: number;
  yaml: string;
}

export interface Gap {
  id: number;
  cluster: string;
  source: string;
  kind: string;
  startedAt: string;
  detectedAt: string;
  endedAt: string | null;
  seconds: number;
  lateEvents: boolean;
  cause: string | null;
  remediation: string | null;
  ackedBy: string | null;
  ackedAt: string | null;
}
