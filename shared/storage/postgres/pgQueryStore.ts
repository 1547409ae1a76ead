import type pg from 'pg';
import type { UserInfo } from '../../audit/types.js';
import { identityOf } from '../../identity/identity.js';
import { compileIdentityMap, type Attribution, type IdentityRule } from '../../identity/identityMap.js';
import { DECISIONS } from '../eventRecord.js';
import { EVENT_JOINS, EVENT_SELECT_COLUMNS, mapRows, readBodies, type JoinedRow } from '../joinedRow.js';
import type { QueryStore, Rows } from '../port.js';
import type { ActionPosition, EventFilter, StoredEvent } from '../sqlite/queries/eventQuery.js';
import { pgAlertBook, pgCheckoutBook } from './pgAlertBook.js';
import { listPgArchives, pgArchivedDays } from './pgRetention.js';
import { pgGapReads } from './pgPipelineWatch.js';
import { pgSnapshotBook } from './pgSnapshotBook.js';
import { pgReviewBook } from './pgReviewBook.js';
import { pgUsageReads } from './pgUsage.js';
import { pgIngestStatus } from './pgStatus.js';
import { pgIdentityReads, principalsWhere } from './pgIdentities.js';
import { queryPgSelfAudit } from './pgSelfAudit.js';
import type { PgStore } from './pgStore.js';
import { nulCheckedPool } from './pgText.js';

/** How many actions one round trip reads while streaming. */
const PAGE = 500;
/** Objects a filter may name for their histories to be read object by object from their index. */
const FEW_OBJECTS = 50;

/** The break-glass checkout covering an action of its account (they never overlap: pgAlertBook.ts). */
const IN_CHECKOUT = 'bg.account = u.username AND bg.from_at <= e.received_at AND e.received_at < least(bg.until_at, coalesce(bg.closed_at, bg.until_at))';

const SELECT = `SELECT ${EVENT_SELECT_COLUMNS}, bg.id AS checkout_id, bg.person AS checkout_person FROM events e ${EVENT_JOINS} LEFT JOIN breakglass_checkouts bg ON ${IN_CHECKOUT}`;

/** Only the most complete stage of each action (spec/k8s-audit.md §5.1). */
const MOST_COMPLETE_STAGE = `NOT EXISTS (SELECT 1 FROM events b
  WHERE b.received_at = e.received_at AND b.cluster_id = e.cluster_id AND b.audit_id = e.audit_id AND b.stage > e.stage)`;

/**
 * The query side of the port (port.ts) on PostgreSQL, so far: who did what (events, history,
 * one action). Actions are read in the order of the primary key (request time, cluster,
 * auditID), a page at a time; an action's position is that key.
 */
export function pgQueryStore(store: PgStore, identityMap: readonly IdentityRule[] = []): QueryStore {
  const pool = nulCheckedPool(store.pool);
  const attribute = compileIdentityMap(identityMap);
  const withActor = actorOf(attribute);
  return {
    events: {
      actions: (filter) => actions(pool, filter, attribute, withActor),
      action: async (cluster, auditID, options) => {
        const where = ['e.audit_id = $1', 'e.cluster_id = (SELECT id FROM strings WHERE value = $2)'];
        const params: unknown[] = [auditID, cluster];
        if (options.since !== undefined) where.push(`e.received_at >= $${params.push(options.since)}`);
        if (options.until !== undefined) where.push(`e.received_at < $${params.push(options.until)}`);
        const rows = (await pool.query(`${SELECT} WHERE ${where.join(' AND ')} ORDER BY e.stage`, params)).rows.map(numeric);
        const stages = withActors(rows, withActor);
        if (options.bodies) {
          for (const s of stages) {
            if (!s.hasBody) continue;
            const b = await pool.query<{ request: Buffer | null; response: Buffer | null }>('SELECT request, response FROM bodies WHERE event_id = $1', [s.id]);
            Object.assign(s.event, readBodies(b.rows[0]));
          }
        }
        return stages;
      },
    },
    archives: { list: () => listPgArchives(pool), days: (since, until) => pgArchivedDays(pool, since, until) },
    identities: pgIdentityReads(pool, attribute),
    alerts: pgAlertBook(pool),
    checkouts: pgCheckoutBook(pool),
    status: { ...pgIngestStatus(pool), ...pgGapReads(pool) },
    selfAudit: { list: (filter) => queryPgSelfAudit(pool, filter) },
    snapshots: pgSnapshotBook(pool),
    reviews: pgReviewBook(pool),
    usage: pgUsageReads(pool),
  };
}

async function* actions(pool: pg.Pool, filter: EventFilter, attribute: (i: ReturnType<typeof identityOf>) => Attribution, withActor: (s: StoredEvent, checkout: { id: number; person: string } | null) => StoredEvent): Rows<StoredEvent> {
  const where: string[] = [MOST_COMPLETE_STAGE];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (filter.actor !== undefined) {
    // The identity (an EKS ARN, a username) or the username itself, as on SQLite.
    const principals = await principalsWhere(pool, (i) => i.key === filter.actor);
    where.push(`(e.user_id = ANY(${p(principals)}::bigint[]) OR e.user_id IN (SELECT id FROM principals WHERE username = ${p(filter.actor)}))`);
  }
  if (filter.cluster !== undefined) where.push(`e.cluster_id = (SELECT id FROM strings WHERE value = ${p(filter.cluster)})`);
  if (filter.user !== undefined) {
    const u = p(filter.user);
    where.push(`(e.user_id IN (SELECT id FROM principals WHERE username = ${u}) OR e.impersonated_id IN (SELECT id FROM principals WHERE username = ${u}))`);
  }
  if (filter.effectiveUser !== undefined) where.push(`coalesce(e.impersonated_id, e.user_id) IN (SELECT id FROM principals WHERE username = ${p(filter.effectiveUser)})`);
  if (filter.credential !== undefined) {
    const c = p(filter.credential);
    // A token's credential is on its own row; a user stored whole carries it in its JSON.
    where.push(`(e.token_id IN (SELECT id FROM user_tokens WHERE credential_id = ${c})
      OR (e.token_id IS NULL AND e.user_id IN (SELECT id FROM principals WHERE json::jsonb -> 'extra' -> 'authentication.kubernetes.io/credential-id' ->> 0 = ${c})))`);
  }
  if (filter.verb !== undefined) where.push(`e.verb_id = (SELECT id FROM verbs WHERE verb = ${p(filter.verb)})`);
  const apiGroup = filter.apiGroup !== undefined && filter.apiGroup !== null ? filter.apiGroup : undefined;
  // One object (or a few): its actions are read from its index in answer order, object by object.
  let objectIds: number[] | null = null;
  if (filter.namespace !== undefined || filter.name !== undefined) {
    const cond: string[] = [];
    const oparams: unknown[] = [];
    const op = (v: unknown) => `$${oparams.push(v)}`;
    if (filter.namespace !== undefined) cond.push(`namespace = ${op(filter.namespace)}`);
    if (filter.name !== undefined) cond.push(`name = ${op(filter.name)}`);
    if (filter.resource !== undefined) cond.push(`resource = ${op(filter.resource)}`);
    if (apiGroup !== undefined) cond.push(`api_group = ${op(apiGroup)}`);
    const ids = (await pool.query<{ id: string }>(`SELECT id FROM objects WHERE ${cond.join(' AND ')} LIMIT ${FEW_OBJECTS + 1}`, oparams)).rows.map((r) => Number(r.id));
    if (ids.length === 0) return;
    if (ids.length <= FEW_OBJECTS) objectIds = ids;
    else where.push(`e.object_id IN (SELECT id FROM objects WHERE ${cond.join(' AND ').replace(/\$(\d+)/g, (_m, k: string) => p(oparams[Number(k) - 1]))})`);
  }
  // The objects found already hold the resource and group: a condition on them again would lead
  // the planner to read an object's every action to sort them (a busy lease: 300 ms, not 2).
  const byResource = objectIds === null ? filter.resource !== undefined || apiGroup !== undefined || filter.subresource !== undefined : filter.subresource !== undefined;
  if (byResource) {
    const cond: string[] = [];
    if (filter.resource !== undefined) cond.push(`resource = ${p(filter.resource)}`);
    if (apiGroup !== undefined) cond.push(`api_group = ${p(apiGroup)}`);
    if (filter.subresource !== undefined) cond.push(`subresource = ${p(filter.subresource)}`);
    where.push(`e.resource_id IN (SELECT id FROM api_resources WHERE ${cond.join(' AND ')})`);
  }
  if (filter.person !== undefined) {
    // The identity map's person, or the person of a break-glass checkout the action fell within.
    const principals = await principalsWhere(pool, (i) => attribute(i).person === filter.person);
    const person = p(filter.person);
    where.push(`(e.user_id = ANY(${p(principals)}::bigint[]) OR EXISTS (SELECT 1 FROM principals u JOIN breakglass_checkouts bg ON ${IN_CHECKOUT} AND bg.person = ${person} WHERE u.id = e.user_id))`);
  }
  if (filter.finding !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM alert_events ae JOIN alerts a ON a.id = ae.alert_id
      WHERE ae.rule = ${p(filter.finding)} AND ae.received_at = e.received_at AND ae.audit_id = e.audit_id AND a.cluster = (SELECT value FROM strings WHERE id = e.cluster_id))`);
  }
  if (filter.decision !== undefined) where.push(`e.decision = ${p(DECISIONS.indexOf(filter.decision))}`);
  if (filter.code !== undefined) where.push(`e.code BETWEEN ${p(filter.code.min)} AND ${p(filter.code.max)}`);
  if (filter.userAgent !== undefined) where.push(`e.user_agent_id IN (SELECT id FROM strings WHERE strpos(value, ${p(filter.userAgent)}) > 0)`);
  if (filter.since !== undefined) where.push(`e.received_at >= ${p(filter.since)}`);
  if (filter.until !== undefined) where.push(`e.received_at < ${p(filter.until)}`);
  const asc = filter.order === 'asc';
  const dir = asc ? 'ASC' : 'DESC';
  const limit = filter.limit ?? 0;
  const fixed = params.length;
  let after: ActionPosition | null = filter.after ?? null;
  let n = 0;
  const order = `received_at ${dir}, cluster_id ${dir}, audit_id ${dir}`;
  for (;;) {
    params.length = fixed;
    const page = [...where];
    if (after) page.push(`(e.received_at, e.cluster_id, e.audit_id) ${asc ? '>' : '<'} (${p(after.receivedAt)}, ${p(after.clusterId)}, ${p(String(after.auditKey))})`);
    const want = limit > 0 ? Math.min(PAGE, limit - n) : PAGE;
    const candidates = `SELECT e.id, e.received_at, e.cluster_id, e.audit_id FROM events e WHERE ${page.join(' AND ')}`;
    const sql = objectIds
      ? `SELECT x.id FROM unnest(${p(objectIds)}::bigint[]) AS o(id)
           CROSS JOIN LATERAL (${candidates} AND e.object_id = o.id ORDER BY ${order} LIMIT ${p(want)}) x ORDER BY ${order.replaceAll('received_at', 'x.received_at').replaceAll('cluster_id', 'x.cluster_id').replaceAll('audit_id', 'x.audit_id')} LIMIT ${p(want)}`
      : `${candidates} ORDER BY ${order.replace(/(\w+) (ASC|DESC)/g, 'e.$1 $2')} LIMIT ${p(want)}`;
    const ids = (await pool.query<{ id: string }>(sql, params)).rows.map((r) => Number(r.id));
    if (ids.length === 0) return;
    // The page's rows, rebuilt with their dimensions, in the order found.
    const byId = new Map((await pool.query(`${SELECT} WHERE e.id = ANY($1::bigint[])`, [ids])).rows.map((r) => [Number(r.id), numeric(r)]));
    const rows = ids.map((id) => byId.get(id)!);
    for (const stored of withActors(rows, withActor)) {
      after = stored.position;
      if (filter.q !== undefined && !stored.event.requestURI.includes(filter.q)) continue;
      if (filter.sourceCidr !== undefined && !(stored.event.sourceIPs ?? []).some((ip) => filter.sourceCidr!.contains(ip))) continue;
      yield stored;
      if (++n === limit) return;
    }
    if (ids.length < want) return;
  }
}

/** PostgreSQL gives bigint columns as text: the numbers the rebuilt event holds. */
function numeric(row: Record<string, unknown>): JoinedRow {
  for (const k of ['id', 'cluster_id', 'received_at', 'stage_delay', 'resource_version', 'checkout_id']) if (typeof row[k] === 'string') row[k] = Number(row[k]);
  return row as unknown as JoinedRow;
}

/** The rows rebuilt, each with its actor (and the checkout its row found). */
function withActors(rows: JoinedRow[], withActor: (s: StoredEvent, checkout: { id: number; person: string } | null) => StoredEvent): StoredEvent[] {
  return [...mapRows(rows[Symbol.iterator]())].map((s, i) => {
    const r = rows[i]!;
    return withActor(s, r.checkout_id === null || r.checkout_id === undefined ? null : { id: r.checkout_id, person: r.checkout_person! });
  });
}

/**
 * The actor, derived from the user as read (identity/identity.ts) and attributed by the identity
 * map (identities are not kept on PostgreSQL yet), or by the break-glass checkout the action
 * fell within, as on SQLite.
 */
function actorOf(attribute: (i: ReturnType<typeof identityOf>) => Attribution): (s: StoredEvent, checkout: { id: number; person: string } | null) => StoredEvent {
  return (s, checkout) => {
    const id = identityOf(s.event.user as UserInfo, s.event.annotations);
    const a = attribute(id);
    return {
      ...s,
      actor: { kind: id.kind, key: id.key, person: checkout?.person ?? a.person ?? null, team: a.team ?? null, checkout: checkout?.id ?? null, credentialKind: id.credential.kind, credentialId: id.credential.id ?? null },
    };
  };
}
