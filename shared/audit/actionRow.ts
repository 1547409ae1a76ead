import { decisionOf, type AuthorizationDecision, type DecisionSource } from './decision.js';
import { commandLine, execArgs } from './execCommand.js';
import { formatMicroTime, parseTime } from './time.js';
import type { AuditEvent } from './types.js';

/** The fields of an action as `kubetrail events` and the API show it (PRODUCT.md, action rows). */
export interface ActionRow {
  auditID: string;
  time: string;
  cluster: string;
  stage: string;
  verb: string;
  user: string;
  groups: string[];
  impersonatedUser: string | null;
  /** Whose permissions were used: impersonatedUser, else user. */
  effectiveUser: string;
  /** The actor's kind: human, serviceaccount, node, control-plane, anonymous, unauthenticated. */
  actorKind: string | null;
  person: string | null;
  /** The break-glass checkout the action fell within (its person is `person`). */
  checkout: number | null;
  /** The credential kind, and its id when the event has one: `client-certificate X509SHA256=…`. */
  credential: string | null;
  sourceIP: string | null;
  userAgent: string | null;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  requestURI: string;
  /** An exec's command line, from the requestURI's `command=` arguments (secrets redacted at ingest). */
  command: string | null;
  code: number | null;
  decision: 'allow' | 'forbid' | 'unknown';
  /** `annotation`: the apiserver's; `inferred`: from the response (README, Authorization decisions); null when unknown. */
  decisionSource: DecisionSource | null;
  reason: string | null;
}

/** Column order for tables and CSV. */
export const ACTION_COLUMNS: (keyof ActionRow)[] = [
  'time', 'cluster', 'auditID', 'stage', 'verb', 'user', 'groups', 'impersonatedUser', 'effectiveUser', 'actorKind', 'person',
  'checkout', 'credential', 'sourceIP', 'userAgent',
  'apiGroup', 'resource', 'subresource', 'namespace', 'name', 'requestURI', 'command', 'code', 'decision', 'decisionSource', 'reason',
];

/** What the store knows of the actor (StoredEvent.actor). */
export interface ActorFacts {
  kind: string;
  person: string | null;
  checkout: number | null;
  credentialKind: string;
  credentialId: string | null;
}

/** The action row of one event received for `cluster`; `judged`: its decision as stored, else judged from the event. */
export function eventToActionRow(e: AuditEvent, cluster: string, actor: ActorFacts | null = null, judged: AuthorizationDecision = decisionOf(e)): ActionRow {
  const ref = e.objectRef ?? {};
  return {
    auditID: e.auditID,
    // Always RFC 3339 UTC with microseconds, whatever precision or zone the event came with.
    time: formatMicroTime(parseTime(e.requestReceivedTimestamp) ?? 0),
    cluster,
    stage: e.stage,
    verb: e.verb,
    user: e.user.username ?? '',
    groups: e.user.groups ?? [],
    impersonatedUser: e.impersonatedUser?.username ?? null,
    effectiveUser: (e.impersonatedUser ?? e.user).username ?? '',
    actorKind: actor?.kind ?? null,
    person: actor?.person ?? null,
    checkout: actor?.checkout ?? null,
    credential: actor ? [actor.credentialKind, actor.credentialId].filter(Boolean).join(' ') : null,
    // Only the last entry is the TCP peer; earlier ones are client-supplied headers (§2).
    sourceIP: e.sourceIPs?.at(-1) ?? null,
    userAgent: e.userAgent ?? null,
    apiGroup: ref.apiGroup ?? '',
    resource: ref.resource ?? '',
    subresource: ref.subresource ?? '',
    namespace: ref.namespace ?? '',
    name: ref.name ?? '',
    requestURI: e.requestURI,
    command: ref.subresource === 'exec' ? execCommandLine(e.requestURI) : null,
    code: e.responseStatus?.code ?? null,
    decision: judged.decision,
    decisionSource: judged.source,
    reason: e.annotations?.['authorization.k8s.io/reason'] ?? null,
  };
}

function execCommandLine(requestURI: string): string | null {
  const args = execArgs(requestURI);
  return args && commandLine(args);
}
