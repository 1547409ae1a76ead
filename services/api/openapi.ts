import { ACTION_COLUMNS } from '../../shared/audit/actionRow.js';
import { SEVERITIES } from '../../shared/detect/types.js';
import { ACTION_FILTER_PARAMS } from '../../shared/query/actionFilter.js';
import { ALERT_STATUSES } from '../../shared/storage/sqlite/queries/alertQuery.js';

/**
 * The OpenAPI 3 document of /api/v1. The tests send real requests to every path and check
 * each answer against the schema given here, so it cannot drift from what the API does.
 */

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const nstr: Schema = { type: ['string', 'null'] };
const int: Schema = { type: 'integer' };
const nint: Schema = { type: ['integer', 'null'] };
const strs: Schema = { type: 'array', items: str };
const obj = (properties: Record<string, Schema>, required = Object.keys(properties)): Schema => ({ type: 'object', properties, required, additionalProperties: false });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
/** An alert's identity field: the value all its requests share, or their distinct values (at most 10, then '…'). */
const identityOf = (one: Schema): Schema => ({ oneOf: [one, { type: 'array', items: one }], description: 'the value every request of the alert shares, or the list of their distinct values (at most 10, then …)' });
const list = (item: string): Schema =>
  obj({ items: { type: 'array', items: ref(item) }, nextCursor: nstr, archived: { ...strs, description: 'days of the range moved to archives (kubetrail archive restore DAY): the answer lacks their events' } }, ['items', 'nextCursor']);

const actionProperties: Record<(typeof ACTION_COLUMNS)[number], Schema> = {
  auditID: str, time: { type: 'string', format: 'date-time' }, cluster: str, stage: str, verb: str, user: str, groups: strs,
  impersonatedUser: nstr, effectiveUser: str, actorKind: nstr, person: nstr, checkout: nint, credential: nstr, sourceIP: nstr,
  userAgent: nstr, apiGroup: str, resource: str, subresource: str, namespace: str, name: str, requestURI: str, command: nstr, code: nint,
  decision: { type: 'string', enum: ['allow', 'forbid', 'unknown'] },
  decisionSource: { type: ['string', 'null'], enum: ['annotation', 'inferred', null], description: 'annotation: the apiserver recorded it; inferred: from the response, where the event had no decision annotation' },
  reason: nstr,
};

const schemas: Record<string, Schema> = {
  Error: obj({ error: str }),
  Action: obj(actionProperties),
  ActionList: list('Action'),
  ActionDetail: obj({
    ...actionProperties,
    bodiesShown: { type: 'boolean', description: 'request/response objects are shown to analyst and admin tokens only' },
    stages: { type: 'array', items: { type: 'object', description: 'an audit.k8s.io/v1 Event, as received (secrets redacted)', required: ['auditID', 'stage', 'verb', 'user'] } },
  }),
  Identity: obj({
    identity: str, kind: str, person: nstr, team: nstr, usernames: strs, credentialKinds: strs, credentialCount: int, credentialIds: strs,
    firstSeen: str, lastSeen: str, actions: int, denied: int, findings: { type: 'object', additionalProperties: int }, tokensMintedBy: strs,
  }),
  IdentityList: list('Identity'),
  IdentityDetail: obj({ identity: str, kind: str, people: { type: 'array', items: ref('Identity') } }),
  Timeline: obj({
    identity: str,
    bucket: { type: 'string', enum: ['hour', 'day'] },
    since: { ...nstr, description: 'the range asked for (null: from the first activity), so that a chart\'s axis is the range' },
    until: str,
    items: { type: 'array', items: obj({ start: str, verb: str, decision: { type: 'string', enum: ['allow', 'forbid', 'unknown'] }, actions: int }) },
  }),
  Alert: obj({
    id: int, rule: str, severity: { type: 'string', enum: [...SEVERITIES] }, time: str, lastTime: str, cluster: str,
    actor: identityOf(str), effectiveUser: identityOf(str), person: identityOf(nstr), count: int, auditIDs: strs, message: str, status: { type: 'string', enum: [...ALERT_STATUSES] },
    pci: strs, ackedBy: nstr, ackedAt: nstr, resolvedBy: nstr, resolvedAt: nstr,
  }),
  AlertList: list('Alert'),
  Checkout: obj({ id: int, account: str, person: str, approvedBy: str, reason: str, ticket: str, from: str, until: str, closed: nstr }),
  CheckoutList: list('Checkout'),
  NewCheckout: {
    ...obj({ account: str, person: str, approvedBy: str, reason: str, ticket: str, from: str, until: str, for: { type: 'string', description: 'a duration such as 2h (instead of until)' } }, ['account', 'person', 'approvedBy', 'reason', 'ticket']),
  },
  IngestStatus: obj({
    time: str,
    clusters: { type: 'array', items: obj({ cluster: str, lastEventTime: nstr, eventsPerSecond: { type: 'number' }, quarantined: { type: 'object', additionalProperties: int } }) },
    sinceStart: obj({ uptimeSeconds: int, sources: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'number' } } } }),
    kafkaLag: { type: 'array', items: obj({ topic: str, partition: int, lag: { type: 'number' } }) },
  }),
  Gap: obj({
    id: int, cluster: str, source: str, kind: { type: 'string', enum: ['silence', 'rate-collapse'] }, startedAt: str, detectedAt: str, endedAt: nstr,
    seconds: int, expectedPerWindow: int, windowSeconds: { type: 'number' }, lateEvents: { type: 'boolean' }, alertId: nint,
    cause: nstr, remediation: nstr, ackedBy: nstr, ackedAt: nstr,
  }),
  GapList: list('Gap'),
  GapAck: obj({ cause: str, remediation: str }),
  Coverage: obj({
    cluster: str, since: str, until: str,
    stats: { type: 'object', description: 'counts over the window\'s stored events: levels, reads, writes with and without bodies, reasons, users with groups', additionalProperties: true },
    items: { type: 'array', items: obj({ name: str, kind: { type: 'string', enum: ['detection', 'report'] }, state: { type: 'string', enum: ['working', 'degraded', 'blind'] }, why: strs, fix: nstr }) },
  }),
  Activity: obj({
    since: str, until: str, bucketSeconds: int,
    clusters: { type: 'array', items: obj({ cluster: str, buckets: { type: 'array', items: obj({ start: str, events: int, denied: int, serverErrors: int }) } }) },
  }),
  Quarantined: obj({ id: int, time: str, source: str, cluster: str, position: str, reason: str, rawSize: int, rawSha256: { ...nstr, description: 'SHA-256 of the input as received' }, raw: { ...str, description: 'the input redacted (JSON), or a masked excerpt: never its secrets' } }),
  QuarantineList: list('Quarantined'),
  SelfAuditEntry: obj({
    id: int, time: str, channel: { type: 'string', enum: ['api', 'cli', 'service'] }, actor: str, role: nstr, source: nstr, action: str,
    query: {}, rows: nint, status: nint, detail: nstr, count: { ...int, description: 'calls the entry stands for: refused calls of one address, minute, status and path share one' },
  }),
  SelfAuditList: list('SelfAuditEntry'),
  Session: obj({
    name: str, role: { type: 'string', enum: ['viewer', 'analyst', 'admin'] },
    routes: { ...strs, description: "the endpoints this token may call, as 'GET /events/:cluster/:auditID'" },
    exports: { type: 'boolean', description: 'format=csv|ndjson allowed' }, bodies: { type: 'boolean', description: 'request/response bodies shown' },
  }),
  SnapshotList: list('Snapshot'),
  Snapshot: {
    type: 'object',
    required: ['id', 'cluster', 'takenAt', 'source', 'clusterRoles', 'roles', 'clusterRoleBindings', 'roleBindings', 'serviceAccounts', 'problems'],
    properties: { id: int, cluster: str, takenAt: str, source: str, clusterRoles: int, roles: int, clusterRoleBindings: int, roleBindings: int, serviceAccounts: int, problems: int },
  },
  CanAnswer: obj({ allowed: { type: 'boolean' }, explanation: strs }),
  WhoCanList: list('WhoCan'),
  WhoCan: obj({ subject: str, scope: str, binding: str, role: str, rule: str }),
  Permissions: obj({
    user: obj({ name: str, groups: strs }, ['name', 'groups']),
    bypassesRbac: { type: 'boolean' },
    columns: strs,
    items: { type: 'array', items: obj({ scope: str, binding: str, role: str, via: str, rule: str, expands: str }) },
  }),
  UsageReport: {
    type: 'object',
    description: 'granted versus used per subject (kubetrail rbac report --output json)',
    required: ['cluster', 'snapshot', 'window', 'totals', 'subjects', 'neverSeen', 'idleServiceAccounts', 'drift', 'outsideRbac'],
  },
  RecommendationList: list('Recommendation'),
  Recommendation: obj({ target: str, regressions: int, yaml: { type: 'string', description: 'kubectl-applicable YAML; the dry run and the denied requests as # comments' } }),
};

const param = (name: string, description: string, extra: Schema = {}): Schema => ({ name, in: 'query', required: false, description, schema: { type: 'string', ...extra } });
const pathParam = (name: string): Schema => ({ name, in: 'path', required: true, schema: str });
const timeParams = [
  param('since', 'a duration back from now (90s, 15m, 24h, 30d, 2w) or an RFC 3339 time'),
  param('until', 'a duration back from now or an RFC 3339 time'),
];
const paging = [
  param('limit', 'rows per page: default 100, at most api.maxPageSize (5,000); with format=csv|ndjson: all rows unless given'),
  param('cursor', 'nextCursor of the previous page'),
  param('order', 'desc (newest first, the default) or asc', { enum: ['asc', 'desc'] }),
  param('format', 'json pages; csv or ndjson stream every row (analyst and up); ocsf or ecs stream actions (events, history) and alerts as OCSF or ECS documents, one per line; or the Accept header text/csv, application/x-ndjson', { enum: ['json', 'csv', 'ndjson', 'ocsf', 'ecs'] }),
];

const FILTER_HELP: Record<(typeof ACTION_FILTER_PARAMS)[number], string> = {
  cluster: 'cluster name',
  user: 'a username that acted (user.username) or whose permissions were used (impersonatedUser.username)',
  actor: "the actor's identity: username, or EKS caller ARN",
  effectiveUser: 'username whose permissions were used (impersonatedUser, else user)',
  person: 'the person behind the identity (identity map, break-glass checkout)',
  credential: 'credential id: X509SHA256=… or JTI=…',
  verb: 'verb, e.g. get, delete',
  apiGroup: "API group; empty or 'core' for the core group",
  resource: 'resource, e.g. secrets',
  subresource: "subresource, e.g. exec; empty: the resource itself",
  namespace: 'namespace',
  name: 'object name',
  decision: 'allow, forbid or unknown',
  code: 'response code, exact (403) or a range (400-499)',
  sourceIP: 'a source IP in this CIDR block (10.0.0.0/8) or this address',
  userAgent: 'text in the user agent',
  finding: 'the action contributed to an alert of this rule, e.g. secret-read',
  q: 'text in the requestURI',
  since: timeParams[0]!.description as string,
  until: timeParams[1]!.description as string,
};

const stateParams = [param('snapshot', 'evaluate this stored snapshot'), param('cluster', "the cluster whose newest snapshot to evaluate (default: the configured cluster)")];

const json = (schema: string) => ({ content: { 'application/json': { schema: ref(schema) } } });
const streams = (schema: string) => ({
  content: {
    'application/json': { schema: ref(schema) },
    'text/csv': { schema: str },
    'application/x-ndjson': { schema: str },
  },
});

const errors = {
  '400': { description: 'a parameter is invalid (the message names it)', ...json('Error') },
  '401': { description: 'no bearer token, or an unknown one', ...json('Error') },
  '403': { description: "the token's role does not cover this", ...json('Error') },
};

function op(summary: string, role: string, parameters: Schema[], ok: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { summary, description: `Needs the ${role} role.`, 'x-kubetrail-role': role, parameters, responses: { ...ok, ...errors }, ...extra };
}

export function openApiDocument(): Schema {
  const filters = ACTION_FILTER_PARAMS.map((p) => param(p, FILTER_HELP[p]));
  return {
    openapi: '3.1.0',
    info: {
      title: 'kubetrail query API',
      version: '1',
      description: 'Who did what in Kubernetes, from its audit events. Every call is recorded in kubetrail\'s own audit trail (GET /self-audit).',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas },
    paths: {
      '/events': { get: op('Actions (each once, from its most complete stage)', 'viewer', [...filters, ...paging], { '200': { description: 'a page, or a stream', ...streams('ActionList') } }) },
      '/events/{cluster}/{auditID}': {
        get: op('One action with all its stages; request/response bodies for analyst and up', 'viewer', [pathParam('cluster'), pathParam('auditID'), ...timeParams.map((p) => ({ ...p, description: `${p.description as string}: narrows the search (an exact lookup when the action's time is known)` }))], {
          '200': { description: 'the action', ...json('ActionDetail') },
          '404': { description: 'no such action', ...json('Error') },
        }),
      },
      '/history': {
        get: op('Every action on one object', 'viewer', [
          param('apiGroup', "API group; empty or 'core' (the default) for the core group"),
          { ...param('resource', 'resource'), required: true },
          { ...param('name', 'object name'), required: true },
          param('namespace', 'namespace; leave out for a cluster-scoped object'),
          param('cluster', 'cluster name'),
          ...timeParams,
          ...paging,
        ], { '200': { description: 'a page, or a stream', ...streams('ActionList') } }),
      },
      '/identities': { get: op('Every identity that acted, by identity', 'viewer', [...timeParams, ...paging], { '200': { description: 'a page, or a stream', ...streams('IdentityList') } }) },
      '/identities/{id}': {
        get: op('One identity: kind, people, credentials, first and last seen, findings', 'viewer', [pathParam('id'), ...timeParams], {
          '200': { description: 'the identity', ...json('IdentityDetail') },
          '404': { description: 'no such identity', ...json('Error') },
        }),
      },
      '/identities/{id}/timeline': {
        get: op('Actions per hour or day, by verb and decision', 'viewer', [pathParam('id'), param('bucket', 'hour (default) or day', { enum: ['hour', 'day'] }), ...timeParams], {
          '200': { description: 'the timeline', ...json('Timeline') },
        }),
      },
      '/alerts': {
        get: op('Alerts raised at ingest', 'analyst', [
          param('since', 'alerts whose last request is at or after'), param('severity', 'at or above', { enum: [...SEVERITIES] }), param('rule', 'finding id'),
          param('status', 'open, acknowledged or resolved', { enum: [...ALERT_STATUSES] }), param('cluster', 'cluster name'), ...paging,
        ], { '200': { description: 'a page, or a stream', ...streams('AlertList') } }),
      },
      '/alerts/{id}/ack': { post: op('Acknowledge an alert (recorded with who and when)', 'analyst', [pathParam('id')], { '200': { description: 'the alert', ...json('Alert') }, '404': { description: 'no such alert', ...json('Error') }, '409': { description: 'already acknowledged or resolved', ...json('Error') } }) },
      '/alerts/{id}/resolve': { post: op('Resolve an alert (recorded with who and when)', 'analyst', [pathParam('id')], { '200': { description: 'the alert', ...json('Alert') }, '404': { description: 'no such alert', ...json('Error') }, '409': { description: 'already resolved', ...json('Error') } }) },
      '/breakglass/checkouts': {
        get: op('Break-glass checkouts, newest first', 'analyst', [param('format', 'json, csv or ndjson', { enum: ['json', 'csv', 'ndjson'] })], { '200': { description: 'every checkout', ...streams('CheckoutList') } }),
        post: op("Check out a shared account: its actions in the window are the person's", 'analyst', [], { '201': { description: 'the checkout', ...json('Checkout') } }, { requestBody: { required: true, ...json('NewCheckout') } }),
      },
      '/breakglass/checkouts/{id}/close': { post: op('End a checkout now', 'analyst', [pathParam('id')], { '200': { description: 'the checkout', ...json('Checkout') } }) },
      '/ingest/status': { get: op('Per cluster: newest event, recent rate, quarantined input; this process\'s counters and Kafka lag', 'viewer', [], { '200': { description: 'the status', ...json('IngestStatus') } }) },
      '/gaps': { get: op('Audit pipeline gaps (PCI DSS 10.7.2): a cluster and source silent, or whose rate collapsed; start, end, cause and remediation', 'viewer', [param('since', 'gaps open at or after'), param('cluster', 'cluster name'), param('open', 'true: only open gaps', { enum: ['true', 'false'] })], { '200': { description: 'the gaps, newest first', ...json('GapList') } }) },
      '/gaps/{id}/ack': {
        post: op('Acknowledge a gap with its cause and remediation (PCI DSS 10.7.3); acknowledges its alert too', 'analyst', [pathParam('id')], {
          '200': { description: 'the gap', ...json('Gap') }, '404': { description: 'no such gap', ...json('Error') }, '409': { description: 'already acknowledged', ...json('Error') },
        }, { requestBody: { required: true, ...json('GapAck') } }),
      },
      '/activity': { get: op('Stored events, denials and 5xx answers per bucket of a range, per cluster: the console overview\'s charts. Buckets are whole minutes, at most 360 of them', 'viewer', [param('cluster', 'only this cluster'), param('since', 'range start (default 24h)'), param('until', 'range end (default now)')], { '200': { description: 'the activity', ...json('Activity') } }) },
      '/coverage': { get: op('What kubetrail cannot see in a cluster: each detection and report working, degraded (and why) or blind, from what its stored events record', 'viewer', [param('cluster', 'cluster (default: the configured one)'), param('since', 'window start (default 7d)'), param('until', 'window end (default now)')], { '200': { description: 'the coverage', ...json('Coverage') } }) },
      '/quarantine': { get: op('Quarantined input with the reason, newest first', 'analyst', [param('since', 'quarantined at or after'), param('source', 'webhook, file or kafka'), param('cluster', 'cluster name'), ...paging], { '200': { description: 'a page, or a stream', ...streams('QuarantineList') } }) },
      '/self-audit': { get: op("kubetrail's own audit trail: API calls, CLI queries, start, stop, configuration changes", 'admin', [...timeParams, param('actor', 'token name or OS user'), param('channel', 'api, cli or service', { enum: ['api', 'cli', 'service'] }), ...paging], { '200': { description: 'a page, or a stream', ...streams('SelfAuditList') } }) },
      '/rbac/snapshots': { get: op('RBAC snapshots taken', 'admin', [param('cluster', 'only this cluster')], { '200': { description: 'the snapshots', ...json('SnapshotList') } }) },
      '/rbac/can': {
        get: op('Whether a user may: the exact RBAC decision, with the binding and rule (or the system:masters bypass)', 'admin', [
          { ...param('verb', 'verb'), required: true }, { ...param('resource', 'RESOURCE[.GROUP][/NAME], or a non-resource URL such as /healthz'), required: true },
          { ...param('user', 'username'), required: true }, param('groups', 'the user\'s groups, comma-separated'), param('subresource', 'subresource'), param('namespace', 'namespace (default: cluster-wide)'),
          ...stateParams,
        ], { '200': { description: 'the answer', ...json('CanAnswer') }, '404': { description: 'no such snapshot', ...json('Error') } }),
      },
      '/rbac/who-can': {
        get: op('The subjects allowed, with their binding paths', 'admin', [{ ...param('verb', 'verb'), required: true }, { ...param('resource', 'RESOURCE[.GROUP][/NAME] or a URL'), required: true }, param('subresource', 'subresource'), param('namespace', 'namespace'), ...stateParams], {
          '200': { description: 'the subjects', ...json('WhoCanList') },
        }),
      },
      '/rbac/permissions': {
        get: op('Effective permissions of a user, service account or group, with the binding path of each rule', 'admin', [param('user', 'username'), param('groups', 'groups, comma-separated'), param('serviceaccount', 'NAMESPACE:NAME'), param('namespace', 'only RoleBindings of this namespace (and ClusterRoleBindings)'), ...stateParams], {
          '200': { description: 'the permissions', ...json('Permissions') },
        }),
      },
      '/rbac/report': {
        get: op('Unused permissions, removable bindings, risk ranking (rbac report)', 'admin', [param('since', 'window start (default 30d)'), param('until', 'window end (default now)'), param('subject', 'only these subjects, comma-separated'), param('namespace', 'namespace'), ...stateParams], {
          '200': { description: 'the report', ...json('UsageReport') },
        }),
      },
      '/rbac/recommend': {
        get: op('Least-privilege RBAC from observed activity, with the dry run (rbac recommend)', 'admin', [
          param('user', 'a user (or system:serviceaccount:NS:NAME)'), param('serviceaccount', 'NAMESPACE:NAME'), param('group', 'a group'), param('all', 'true: every subject seen'),
          param('since', 'window start (default 30d)'), param('until', 'window end (default now)'), param('namespace', 'namespace'), param('includeDenied', 'true: also allow what was denied'), ...stateParams,
        ], { '200': { description: 'one recommendation per subject', ...json('RecommendationList') } }),
      },
      '/session': { get: { summary: 'The token: its name, role and the endpoints it may call', description: 'Needs any token.', parameters: [], responses: { '200': { description: 'the session', ...json('Session') }, '401': errors['401'] } } },
      '/openapi.json': { get: { summary: 'This document', description: 'Needs any token.', parameters: [], responses: { '200': { description: 'OpenAPI 3', content: { 'application/json': { schema: { type: 'object' } } } }, '401': errors['401'] } } },
    },
  };
}
