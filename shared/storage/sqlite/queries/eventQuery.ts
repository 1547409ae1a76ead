import type { AuthorizationDecision } from '../../../audit/decision.js';
import type { Database } from 'better-sqlite3';
import type { AuditEvent } from '../../../audit/types.js';
import type { CredentialKind, IdentityKind } from '../../../identity/identity.js';
import type { Cidr } from '../../../cidr.js';
import { auditIdToKey } from '../../auditId.js';
import { DECISIONS, recordToEvent } from '../../eventRecord.js';
import { EVENT_JOINS, EVENT_SELECT_COLUMNS, mapRows, readBodies, rowToRecord, type BodyRow, type JoinedRow } from '../../joinedRow.js';
import { EVENT_COLUMNS, type EventRow } from '../write/eventRows.js';

/** Filters of who-did-what queries; every field is optional and they combine with AND. */
export interface EventFilter {
  cluster?: string;
  /** A username that acted (`user.username`) or whose permissions were used (`impersonatedUser.username`). */
  user?: string;
  /** The actor's identity: its username, or its EKS caller ARN. */
  actor?: string;
  /** Username of the effective identity: `impersonatedUser`, else `user`. */
  effectiveUser?: string;
  /** The person: named by the identity map (or the identity itself), or a break-glass checkout. */
  person?: string;
  /** `authentication.kubernetes.io/credential-id`: X509SHA256=… or JTI=…. */
  credential?: string;
  verb?: string;
  resource?: string;
  /** null: any group; '' the core group. */
  apiGroup?: string | null;
  /** undefined: any subresource (or none); '' only the resource itself. */
  subresource?: string;
  namespace?: string;
  name?: string;
  decision?: (typeof DECISIONS)[number];
  /** Microseconds since the epoch, inclusive. */
  since?: number;
  /** Microseconds since the epoch, exclusive. */
  until?: number;
  /** responseStatus.code within [min, max]. */
  code?: { min: number; max: number };
  /** One of the source IPs (the peer, or a forwarded address) is in this block. */
  sourceCidr?: Cidr;
  /** Text in the user agent. */
  userAgent?: string;
  /** The action contributed to an alert of this rule (spec/pci.md finding ids). */
  finding?: string;
  /** Text in the requestURI. */
  q?: string;
  /** Only actions after this one in the order asked for: the next page. */
  after?: ActionPosition;
  /** 0 = no limit. */
  limit?: number;
  order?: 'desc' | 'asc';
}

/**
 * Where an action stands in the order of results: its request time, auditID (as stored) and
 * cluster. All stages of an action share it, so a page boundary stays put while ingest adds
 * stages and actions.
 */
export interface ActionPosition {
  receivedAt: number;
  auditKey: Buffer | string;
  clusterId: number;
}

/** One stored event, rebuilt. */
export interface StoredEvent {
  id: number;
  cluster: string;
  event: AuditEvent;
  hasBody: boolean;
  /** Who holds the actor's credential, as derived when the principal was stored. */
  actor: ActorIdentity | null;
  /** The authorization decision as stored, with where it came from. */
  decision: AuthorizationDecision;
  position: ActionPosition;
}

export interface ActorIdentity {
  kind: IdentityKind;
  /** The EKS caller ARN, else the username. */
  key: string;
  /** A break-glass checkout's person when the action fell within one, else the identity map's. */
  person: string | null;
  team: string | null;
  /** The break-glass checkout the action fell within. */
  checkout: number | null;
  credentialKind: CredentialKind;
  credentialId: string | null;
}

/**
 * Break-glass checkout `bg` covers action `e` of principal `u` (the window ends early when
 * closed). Checkouts of one account never overlap (createCheckout), so at most one matches.
 */
const IN_CHECKOUT = `bg.account = u.username AND bg.from_at <= e.received_at AND e.received_at < min(bg.until_at, coalesce(bg.closed_at, bg.until_at))`;

const CHECKOUT_JOIN = `JOIN principals u ON u.id = e.user_id LEFT JOIN breakglass_checkouts bg ON ${IN_CHECKOUT}`;

const SELECT = selectFrom('events');

/** The rebuilding select over `table`, a table with the columns of `events`. */
function selectFrom(table: string): string {
  return `SELECT ${EVENT_SELECT_COLUMNS},
    ui.kind AS actor_kind, ui.identity_key AS actor_key, ui.person, ui.team, ui.credential_kind, coalesce(ut.credential_id, ui.credential_id) AS credential_id,
    bg.id AS checkout_id, bg.person AS checkout_person
  FROM ${table} e
  ${EVENT_JOINS}
  LEFT JOIN identities ui ON ui.principal_id = e.user_id
  LEFT JOIN breakglass_checkouts bg ON ${IN_CHECKOUT}`;
}

const READ_VERBS = new Set(['get', 'list', 'watch']);

/**
 * Only the most complete stage of each action (one request: its auditID, which all its
 * stages share with their requestReceivedTimestamp): spec/k8s-audit.md §5.1.
 */
const MOST_COMPLETE_STAGE = `NOT EXISTS (SELECT 1 FROM events b
  WHERE b.received_at = e.received_at AND b.audit_id = e.audit_id AND b.stage > e.stage AND b.cluster_id = e.cluster_id)`;

/** Actions matching `filter`, each once from its most complete stage, newest first by default. */
export function queryActions(db: Database, filter: EventFilter): IterableIterator<StoredEvent> {
  const where: string[] = [];
  const params: unknown[] = [];
  // The joins a filter needs; the others are made for the page's rows only.
  const joins = new Set<string>();
  if (filter.cluster !== undefined) {
    where.push('e.cluster_id = (SELECT id FROM strings WHERE value = ?)');
    params.push(filter.cluster);
  }
  if (filter.user !== undefined) {
    where.push('(e.user_id IN (SELECT id FROM principals WHERE username = ?) OR e.impersonated_id IN (SELECT id FROM principals WHERE username = ?))');
    params.push(filter.user, filter.user);
  }
  if (filter.actor !== undefined) {
    where.push('e.user_id IN (SELECT principal_id FROM identities WHERE identity_key = ? UNION SELECT id FROM principals WHERE username = ?)');
    params.push(filter.actor, filter.actor);
  }
  if (filter.effectiveUser !== undefined) {
    where.push('coalesce(e.impersonated_id, e.user_id) IN (SELECT id FROM principals WHERE username = ?)');
    params.push(filter.effectiveUser);
  }
  if (filter.person !== undefined) {
    joins.add(CHECKOUT_JOIN);
    where.push('(e.user_id IN (SELECT principal_id FROM identities WHERE person = ?) OR bg.person = ?)');
    params.push(filter.person, filter.person);
  }
  if (filter.credential !== undefined) {
    // A token's credential is on its own row (identity/userParts.ts); a user stored whole has it on its identity.
    where.push(`e.user_id IN (SELECT principal_id FROM identities WHERE credential_id = ? UNION SELECT principal_id FROM user_tokens WHERE credential_id = ?)
      AND (e.token_id IS NULL OR e.token_id IN (SELECT id FROM user_tokens WHERE credential_id = ?))`);
    params.push(filter.credential, filter.credential, filter.credential);
  }
  if (filter.verb !== undefined) {
    where.push('e.verb_id = (SELECT id FROM verbs WHERE verb = ?)');
    params.push(filter.verb);
    // The same term as the partial index events_changes, so that SQLite can use it.
    if (!READ_VERBS.has(filter.verb)) where.push('e.verb_id > 3');
  }
  if (filter.resource !== undefined || (filter.apiGroup !== undefined && filter.apiGroup !== null) || filter.subresource !== undefined) {
    const cond: string[] = [];
    if (filter.resource !== undefined) cond.push('resource = ?') && params.push(filter.resource);
    if (filter.apiGroup !== undefined && filter.apiGroup !== null) cond.push('api_group = ?') && params.push(filter.apiGroup);
    if (filter.subresource !== undefined) cond.push('subresource = ?') && params.push(filter.subresource);
    where.push(`e.resource_id IN (SELECT id FROM api_resources WHERE ${cond.join(' AND ')})`);
  }
  if (filter.namespace !== undefined || filter.name !== undefined) {
    const cond: string[] = [];
    if (filter.namespace !== undefined) cond.push('namespace = ?') && params.push(filter.namespace);
    if (filter.name !== undefined) cond.push('name = ?') && params.push(filter.name);
    if (filter.resource !== undefined) cond.push('resource = ?') && params.push(filter.resource);
    // A whole namespace's objects are many: read its actions in time order (the unary + keeps
    // SQLite off the per-object index, which would gather all of them before the first page).
    where.push(`${filter.name === undefined ? '+' : ''}e.object_id IN (SELECT id FROM objects WHERE ${cond.join(' AND ')})`);
  }
  if (filter.decision !== undefined) {
    where.push('e.decision = ?');
    params.push(DECISIONS.indexOf(filter.decision));
  }
  if (filter.code !== undefined) {
    where.push('e.code BETWEEN ? AND ?');
    params.push(filter.code.min, filter.code.max);
  }
  if (filter.userAgent !== undefined) {
    joins.add('LEFT JOIN strings ua ON ua.id = e.user_agent_id');
    where.push('instr(ua.value, ?) > 0');
    params.push(filter.userAgent);
  }
  // Where candidate rows come from, and the column of their request time.
  let from = 'events e';
  let time = 'e.received_at';
  if (filter.finding !== undefined) {
    const unfilled = db.prepare('SELECT 1 FROM alert_events WHERE rule = ? AND received_at IS NULL LIMIT 1').get(filter.finding) !== undefined;
    if (!unfilled) {
      // Newest first through the alerts' auditIDs, by rule and request time: a lookup on the events' key.
      from = `alert_events ae JOIN events e ON e.received_at = ae.received_at AND e.audit_id = audit_key(ae.audit_id)
        AND e.cluster_id = (SELECT id FROM strings WHERE value = (SELECT cluster FROM alerts WHERE id = ae.alert_id))`;
      time = 'ae.received_at';
      where.push('ae.rule = ?');
      params.push(filter.finding);
    } else {
      // Alerts kept before their auditIDs' times were: within the alert's span.
      where.push(`e.id IN (SELECT ev.id FROM alerts a JOIN alert_events ae ON ae.alert_id = a.id
        JOIN events ev ON ev.received_at BETWEEN a.first_at AND a.last_at AND ev.audit_id = audit_key(ae.audit_id) AND ev.cluster_id = (SELECT id FROM strings WHERE value = a.cluster)
        WHERE a.rule = ?)`);
      params.push(filter.finding);
    }
  }
  if (filter.since !== undefined) {
    where.push(`${time} >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push(`${time} < ?`);
    params.push(filter.until);
  }
  const matches = matcher(filter);
  const rows = scanActions(db, { from, time, where: where.length ? where.join(' AND ') : '1', params, joins: [...joins].join(' '), asc: filter.order === 'asc', after: filter.after ?? null });
  return limited(rows, matches, filter.limit ?? 0);
}

/**
 * Actions in the order (request time, auditID, cluster), from the rows that match `where`.
 *
 * The rows are read in the order the indexes keep, (request time, id), in chunks of whole
 * request times: a filter's index then gives its rows without touching the table, and only
 * the rows of the chunk are looked at closer — for being their action's most complete stage,
 * and for their auditID and cluster, by which the rows of one request time are put in order.
 * The joins that rebuild an event run for the rows returned only.
 */
function* scanActions(
  db: Database,
  q: { from: string; time: string; where: string; params: unknown[]; joins: string; asc: boolean; after: ActionPosition | null },
): IterableIterator<StoredEvent> {
  const dir = q.asc ? 'ASC' : 'DESC';
  const beyond = q.asc ? '>' : '<';
  const candidates = db.prepare(`SELECT e.id, ${q.time} FROM ${q.from} ${q.joins} WHERE ${q.where} AND ${q.time} ${beyond} ? ORDER BY ${q.time} ${dir}, e.id ${dir} LIMIT ?`).raw();
  const oneTime = db.prepare(`SELECT e.id, ${q.time} FROM ${q.from} ${q.joins} WHERE ${q.where} AND ${q.time} = ?`).raw();
  let from = q.after?.receivedAt ?? (q.asc ? -Infinity : Infinity);
  let chunk = 128;
  // The cursor's own request time first: the actions of it that come after the cursor.
  if (q.after) yield* rebuild(db, representatives(db, oneTime.all(...q.params, q.after.receivedAt) as [number, number][], q.asc, q.after));
  for (;;) {
    const rows = candidates.all(...q.params, from, chunk) as [number, number][];
    if (rows.length === 0) return;
    let complete = rows;
    if (rows.length === chunk) {
      // The last request time may go on past the chunk: leave it to the next one, unless it is all there is.
      const lastTime = rows.at(-1)![1];
      complete = rows.filter((r) => r[1] !== lastTime);
      if (complete.length === 0) complete = oneTime.all(...q.params, lastTime) as [number, number][];
    }
    yield* rebuild(db, representatives(db, complete, q.asc, null));
    if (rows.length < chunk) return;
    from = complete.at(-1)![1];
    chunk = Math.min(chunk * 2, 8192);
  }
}

/**
 * Of candidate rows (id, request time), the ids of those that are their action's most complete
 * stage, in the order (request time, auditID, cluster), after `after` when given.
 */
function representatives(db: Database, rows: [number, number][], asc: boolean, after: ActionPosition | null): number[] {
  if (rows.length === 0) return [];
  const keys = db
    .prepare(`SELECT e.id, e.received_at, e.audit_id, e.cluster_id FROM events e WHERE e.id IN (SELECT value FROM json_each(?)) AND ${MOST_COMPLETE_STAGE}`)
    .raw()
    .all(JSON.stringify(rows.map((r) => r[0]))) as [number, number, Buffer | string, number][];
  const sign = asc ? 1 : -1;
  const cmp = (a: [number, Buffer | string, number], b: [number, Buffer | string, number]) => a[0] - b[0] || compareAuditKeys(a[1], b[1]) || a[2] - b[2];
  const position = after && ([after.receivedAt, after.auditKey, after.clusterId] as [number, Buffer | string, number]);
  return keys
    .filter((k) => !position || sign * cmp([k[1], k[2], k[3]], position) > 0)
    .sort((a, b) => sign * cmp([a[1], a[2], a[3]], [b[1], b[2], b[3]]))
    .map((k) => k[0]);
}

/** auditIDs in SQLite's order: text before bytes, each by its bytes. */
function compareAuditKeys(a: Buffer | string, b: Buffer | string): number {
  if (typeof a === 'string') return typeof b === 'string' ? Buffer.compare(Buffer.from(a), Buffer.from(b)) : -1;
  return typeof b === 'string' ? 1 : Buffer.compare(a, b);
}

/** The stored events of `ids`, rebuilt, in the order given. */
function rebuild(db: Database, ids: number[]): StoredEvent[] {
  if (ids.length === 0) return [];
  const byId = new Map<number, StoredEvent>();
  for (const s of mapRows(db.prepare(`${SELECT} WHERE e.id IN (SELECT value FROM json_each(?))`).iterate(JSON.stringify(ids)) as IterableIterator<JoinedRow>)) byId.set(s.id, s);
  return ids.map((id) => byId.get(id)!);
}

function matcher(filter: EventFilter): (s: StoredEvent) => boolean {
  const { q, sourceCidr } = filter;
  return (s) => (q === undefined || s.event.requestURI.includes(q)) && (sourceCidr === undefined || (s.event.sourceIPs ?? []).some((ip) => sourceCidr.contains(ip)));
}

function* limited(rows: Iterable<StoredEvent>, matches: (s: StoredEvent) => boolean, limit: number): IterableIterator<StoredEvent> {
  let n = 0;
  for (const s of rows) {
    if (!matches(s)) continue;
    yield s;
    if (++n === limit) return;
  }
}

/**
 * Rebuilds the event an `events` row would hold, without storing it: the row goes through a
 * temporary table and the same select as stored rows. For the rare paths (conflicts).
 */
export function createRowReader(db: Database): (row: EventRow) => AuditEvent {
  db.exec('CREATE TEMP TABLE IF NOT EXISTS incoming_event AS SELECT * FROM main.events WHERE 0');
  const insert = db.prepare(`INSERT INTO temp.incoming_event (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})`);
  const select = db.prepare(selectFrom('temp.incoming_event'));
  const clear = db.prepare('DELETE FROM temp.incoming_event');
  return (row) => {
    insert.run(...row);
    try {
      return recordToEvent(rowToRecord(select.get() as JoinedRow));
    } finally {
      clear.run();
    }
  };
}

/**
 * Every stored stage of one action, oldest first, with bodies when asked. `within` narrows the
 * search to a time range (the auditID alone is not indexed; a time makes it a lookup).
 */
export function readAction(db: Database, cluster: string, auditID: string, options: { bodies: boolean; since?: number; until?: number }): StoredEvent[] {
  const where = ['e.audit_id = ?', 'e.cluster_id = (SELECT id FROM strings WHERE value = ?)'];
  const params: unknown[] = [auditIdToKey(auditID), cluster];
  if (options.since !== undefined) where.push('e.received_at >= ?') && params.push(options.since);
  if (options.until !== undefined) where.push('e.received_at < ?') && params.push(options.until);
  const stages = [...mapRows(db.prepare(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY e.stage`).iterate(...params) as IterableIterator<JoinedRow>)];
  if (options.bodies) {
    const bodies = db.prepare('SELECT request, response FROM bodies WHERE event_id = ?');
    for (const s of stages) if (s.hasBody) Object.assign(s.event, readBodies(bodies.get(s.id) as BodyRow | undefined));
  }
  return stages;
}

/** Every stored event (all stages) in insertion order, with bodies: for export and tests. */
export function* readAllEvents(db: Database): IterableIterator<StoredEvent> {
  const bodies = db.prepare('SELECT request, response FROM bodies WHERE event_id = ?');
  for (const stored of mapRows(db.prepare(`${SELECT} ORDER BY e.id`).iterate() as IterableIterator<JoinedRow>)) {
    if (stored.hasBody) Object.assign(stored.event, readBodies(bodies.get(stored.id) as BodyRow | undefined));
    yield stored;
  }
}

/** Events by id, rebuilt with their bodies: what an archive keeps readable. */
export function readEventsById(db: Database, ids: number[]): Map<number, StoredEvent> {
  const out = new Map<number, StoredEvent>();
  const bodies = db.prepare('SELECT request, response FROM bodies WHERE event_id = ?');
  const select = db.prepare(`${SELECT} WHERE e.id = ?`);
  for (const id of ids) {
    for (const stored of mapRows(select.iterate(id) as IterableIterator<JoinedRow>)) {
      if (stored.hasBody) Object.assign(stored.event, readBodies(bodies.get(stored.id) as BodyRow | undefined));
      out.set(id, stored);
    }
  }
  return out;
}
