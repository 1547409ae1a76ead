import type pg from 'pg';
import type { UserInfo } from '../../audit/types.js';
import { utcDay } from '../../calendar.js';
import { splitParts } from '../../partsKey.js';
import { atomParams, attributeKey, checkKey, mayHaveStarted, type AttributeKey } from '../../rbac/usageAttributes.js';
import { impersonationChecks, rbacUser } from '../../rbac/specialVerbs.js';
import type { UserAttributes } from '../../rbac/types.js';
import type { UsageReads } from '../port.js';
import { usageRecord, type UsageFilter, type UsageRow } from '../sqlite/queries/usageQuery.js';
import { PgDimensions } from './pgDimensions.js';
import { inTransaction } from './pgTransaction.js';

/**
 * The daily usage rollups on PostgreSQL (migrations/postgres/0011): what each stored action
 * counts as a use of, summed per transaction and added to usage_daily with upserts in key
 * order, so that any number of writers sum exactly; read by the RBAC reports. The rules of what
 * counts are SQLite's (sqlite/tables/usageRollups.ts): the first stage after the decision, once
 * per action; an impersonated request counts for the impersonated user, and the checks the
 * impersonation passed count for the actor.
 */

/** Principals remembered at most (then forgotten and worked out again). */
const MEMO_ENTRIES = 50_000;
/** Events read at a time when rebuilding. */
const CHUNK_EVENTS = 20_000;

const hasNul = (v: string) => v.includes('\u0000');

/** A user as RBAC sees it, worked out from a stored principal once. */
interface SubjectOf {
  /** rbac_subjects key; null when the principal has no username (RBAC never saw it). */
  key: string | null;
  columns: [username: string, groups: string];
  /** Keys of the checks that impersonating it passed, made the first time it is impersonated. */
  checks?: AttributeKey[];
}

/** What a stored row counts as use of, with its ids (null: nothing). */
export interface RowUse {
  atomId: number;
  /** The effective user (impersonated, else the actor). */
  subjectId: number;
  /** When impersonated: the actor, and the checks impersonating passed. */
  impersonation: { actorSubjectId: number; checkIds: number[] } | null;
  /** Another stage of its request may count as use too: counted by whoever claims the request first (usage_claims). */
  probe: boolean;
  /** A ResponseStarted of a request that is not long-running: it counts only when no later stage is stored. */
  loneStart: boolean;
}

/** A stored row that counts as use. */
export interface StoredUse {
  use: RowUse;
  clusterId: number;
  receivedAt: number;
  auditId: string;
  decision: number;
  reasonId: number | null;
}

/**
 * The subjects and requests of rows as PostgreSQL ids: asked for with want() before the
 * transaction (PgDimensions interns them outside it), read with useOf() after.
 */
export class PgUseKeys {
  private readonly subjects = new Map<string, SubjectOf>();

  constructor(private readonly dims: PgDimensions) {}

  /** Asks for what a row with these users and request attributes counts as. */
  want(actorJson: string, impersonatedJson: string | null, atom: AttributeKey): void {
    if (splitParts(atom).some(hasNul)) return;
    this.dims.want('usageAtoms', atom, () => atomParams(atom));
    const effective = this.subjectOf(impersonatedJson ?? actorJson);
    if (effective.key === null) return;
    this.dims.want('rbacSubjects', effective.key, () => effective.columns);
    if (impersonatedJson === null) return;
    const actor = this.subjectOf(actorJson);
    if (actor.key === null) return;
    this.dims.want('rbacSubjects', actor.key, () => actor.columns);
    for (const c of this.checksOf(effective, impersonatedJson)) this.dims.want('usageAtoms', c, () => atomParams(c));
  }

  /** What it counts as, after want() and the dimensions' resolve(); null: nothing (no username). */
  useOf(actorJson: string, impersonatedJson: string | null, atom: AttributeKey, probe: boolean, loneStart: boolean): RowUse | null {
    if (splitParts(atom).some(hasNul)) return null;
    const effective = this.subjectOf(impersonatedJson ?? actorJson);
    if (effective.key === null) return null;
    const use: RowUse = { atomId: this.dims.id('usageAtoms', atom), subjectId: this.dims.id('rbacSubjects', effective.key), impersonation: null, probe, loneStart };
    if (impersonatedJson === null) return use;
    const actor = this.subjectOf(actorJson);
    if (actor.key === null) return use;
    use.impersonation = { actorSubjectId: this.dims.id('rbacSubjects', actor.key), checkIds: this.checksOf(effective, impersonatedJson).map((c) => this.dims.id('usageAtoms', c)) };
    return use;
  }

  private checksOf(s: SubjectOf, json: string): AttributeKey[] {
    s.checks ??= impersonationChecks(userOf(json)).map(checkKey).filter((k) => !splitParts(k).some(hasNul));
    return s.checks;
  }

  private subjectOf(json: string): SubjectOf {
    let s = this.subjects.get(json);
    if (s) return s;
    const rbac = rbacUser(userOf(json));
    const groups = JSON.stringify(rbac.groups);
    s = { key: rbac.name && !hasNul(rbac.name) ? `${rbac.name}\u0000${groups}` : null, columns: [rbac.name, groups] };
    // Bound tokens make principals without end (one per token): memory stays flat.
    if (this.subjects.size >= MEMO_ENTRIES) this.subjects.clear();
    this.subjects.set(json, s);
    return s;
  }
}

function userOf(json: string): UserInfo {
  try {
    const u = JSON.parse(json) as unknown;
    return u !== null && typeof u === 'object' ? (u as UserInfo) : {};
  } catch {
    // A principal that is not a JSON object has no username: RBAC never saw it.
    return {};
  }
}

/** Whether a row of this stage, verb and subresource is a probe (batchBuilder.ts), and a lone start. */
export function probeOf(stage: number, verb: string, subresource: string): { probe: boolean; loneStart: boolean } {
  const longRunning = mayHaveStarted(verb, subresource);
  return { probe: stage === 1 || longRunning, loneStart: stage === 1 && !longRunning };
}

interface Sum {
  key: (number | string)[];
  count: number;
  firstAt: number;
  lastAt: number;
  firstAudit: string;
  lastAudit: string;
}

/** The sums of one transaction, by rollup key. */
class UseSums {
  private readonly sums = new Map<string, Sum>();

  add(u: StoredUse, subjectId: number, atomId: number, decision: number, reasonId: number, synthetic: number): void {
    const key = [u.clusterId, utcDay(u.receivedAt), subjectId, atomId, decision, reasonId, synthetic];
    const k = key.join(',');
    const s = this.sums.get(k);
    if (!s) {
      this.sums.set(k, { key, count: 1, firstAt: u.receivedAt, lastAt: u.receivedAt, firstAudit: u.auditId, lastAudit: u.auditId });
      return;
    }
    s.count++;
    if (u.receivedAt < s.firstAt) [s.firstAt, s.firstAudit] = [u.receivedAt, u.auditId];
    if (u.receivedAt >= s.lastAt) [s.lastAt, s.lastAudit] = [u.receivedAt, u.auditId];
  }

  count(u: StoredUse): void {
    const { use } = u;
    this.add(u, use.subjectId, use.atomId, u.decision, u.reasonId ?? 0, 0);
    // The impersonation checks passed (else there would be no impersonatedUser): the actor's.
    for (const check of use.impersonation?.checkIds ?? []) this.add(u, use.impersonation!.actorSubjectId, check, 1, 0, 1);
  }

  /** Adds the sums to usage_daily, in key order. */
  async write(client: pg.PoolClient): Promise<void> {
    if (this.sums.size === 0) return;
    const sums = [...this.sums.values()].sort((a, b) => compareKeys(a.key, b.key));
    const col = (i: number) => sums.map((s) => s.key[i]);
    await client.query(
      `INSERT INTO usage_daily (cluster_id, day, subject_id, atom_id, decision, reason_id, synthetic, count, first_at, last_at, first_audit, last_audit)
       SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[], $5::smallint[], $6::bigint[], $7::smallint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[])
       ON CONFLICT (cluster_id, day, subject_id, atom_id, decision, reason_id, synthetic) DO UPDATE SET
         count = usage_daily.count + excluded.count,
         first_audit = CASE WHEN excluded.first_at < usage_daily.first_at THEN excluded.first_audit ELSE usage_daily.first_audit END,
         first_at = least(usage_daily.first_at, excluded.first_at),
         last_audit = CASE WHEN excluded.last_at >= usage_daily.last_at THEN excluded.last_audit ELSE usage_daily.last_audit END,
         last_at = greatest(usage_daily.last_at, excluded.last_at)`,
      [col(0), col(1), col(2), col(3), col(4), col(5), col(6), sums.map((s) => s.count), sums.map((s) => s.firstAt), sums.map((s) => s.lastAt), sums.map((s) => s.firstAudit), sums.map((s) => s.lastAudit)],
    );
  }
}

function compareKeys(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

const requestKey = (u: StoredUse) => `${u.receivedAt}|${u.clusterId}|${u.auditId}`;

/**
 * Counts the uses one transaction stored, after all its events are inserted. A probe counts when
 * this transaction claims its request first (a writer storing another stage of it at the same
 * moment waits on the claim's key, then finds it taken) and, for a lone start, when no later
 * stage of its request is stored.
 */
export async function recordPgUsage(client: pg.PoolClient, uses: readonly StoredUse[]): Promise<void> {
  if (uses.length === 0) return;
  const sums = new UseSums();
  const probes = new Map<string, StoredUse>();
  for (const u of uses) {
    if (!u.use.probe) sums.count(u);
    else if (!probes.has(requestKey(u))) probes.set(requestKey(u), u);
  }
  if (probes.size > 0) {
    const sorted = [...probes.values()].sort((a, b) => a.receivedAt - b.receivedAt || a.clusterId - b.clusterId || (a.auditId < b.auditId ? -1 : a.auditId > b.auditId ? 1 : 0));
    const claimed = await client.query<{ received_at: string; cluster_id: string; audit_id: string }>(
      `INSERT INTO usage_claims (received_at, cluster_id, audit_id) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
       ON CONFLICT DO NOTHING RETURNING received_at, cluster_id, audit_id`,
      [sorted.map((u) => u.receivedAt), sorted.map((u) => u.clusterId), sorted.map((u) => u.auditId)],
    );
    const mine = claimed.rows.map((r) => probes.get(`${r.received_at}|${r.cluster_id}|${r.audit_id}`)!);
    const lone = mine.filter((u) => u.use.loneStart);
    const ended = new Set<string>();
    if (lone.length > 0) {
      const later = await client.query<{ received_at: string; cluster_id: string; audit_id: string }>(
        `SELECT DISTINCT received_at, cluster_id, audit_id FROM events
         WHERE (received_at, cluster_id, audit_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])) AND stage IN (2, 3)`,
        [lone.map((u) => u.receivedAt), lone.map((u) => u.clusterId), lone.map((u) => u.auditId)],
      );
      for (const r of later.rows) ended.add(`${r.received_at}|${r.cluster_id}|${r.audit_id}`);
    }
    for (const u of mine) if (!ended.has(requestKey(u))) sums.count(u);
  }
  await sums.write(client);
}

/** A stored event as the rebuild reads it. */
interface EventUseRow {
  received_at: string;
  cluster_id: string;
  audit_id: string;
  stage: number;
  verb: string;
  decision: number;
  reason_id: string | null;
  api_group: string | null;
  resource: string | null;
  subresource: string | null;
  namespace: string | null;
  name: string | null;
  path: string | null;
  query: string | null;
  actor: string;
  impersonated: string | null;
}

/**
 * Rebuilds every rollup from the stored events, in one transaction that holds the rollups'
 * tables: writers adding to them meanwhile wait, and add what the rebuild could not see yet
 * once it commits. Returns the actions counted.
 */
export async function rebuildPgUsageRollups(pool: pg.Pool, options: { onlyIfPending?: boolean } = {}): Promise<{ actions: number; rows: number } | null> {
  return inTransaction(pool, async (c) => {
    await c.query('LOCK TABLE usage_daily, usage_claims IN EXCLUSIVE MODE');
    // Another kubetrail starting at the same moment may have built them while this one waited.
    if (options.onlyIfPending && (await c.query("SELECT 1 FROM store_flags WHERE key = 'usage_rollups_rebuild'")).rows.length === 0) return null;
    await c.query('DELETE FROM usage_daily');
    await c.query('DELETE FROM usage_claims');
    const dims = new PgDimensions();
    const keys = new PgUseKeys(dims);
    let actions = 0;
    let from = -1;
    for (;;) {
      // Whole request times per chunk: the stages of one action share its time.
      const next = await c.query<{ received_at: string }>('SELECT received_at FROM events WHERE received_at > $1 ORDER BY received_at OFFSET $2 LIMIT 1', [from, CHUNK_EVENTS]);
      const to = next.rows.length === 0 ? null : Number(next.rows[0]!.received_at);
      const rows = (
        await c.query<EventUseRow>(
          `SELECT e.received_at, e.cluster_id, e.audit_id, e.stage, v.verb, e.decision, e.reason_id, r.api_group, r.resource, r.subresource,
             o.namespace, o.name, p.value AS path, e.query, u.json AS actor, i.json AS impersonated
           FROM events e JOIN verbs v ON v.id = e.verb_id JOIN principals u ON u.id = e.user_id
           LEFT JOIN principals i ON i.id = e.impersonated_id LEFT JOIN api_resources r ON r.id = e.resource_id
           LEFT JOIN objects o ON o.id = e.object_id LEFT JOIN strings p ON p.id = e.path_id
           WHERE e.received_at > $1 ${to === null ? '' : 'AND e.received_at <= $2'} AND e.stage BETWEEN 1 AND 3
           ORDER BY e.received_at, e.cluster_id, e.audit_id, e.stage`,
          to === null ? [from] : [from, to],
        )
      ).rows;
      // The first stage of each action counts.
      const firsts = rows.filter((r, i) => i === 0 || r.received_at !== rows[i - 1]!.received_at || r.cluster_id !== rows[i - 1]!.cluster_id || r.audit_id !== rows[i - 1]!.audit_id);
      const atoms = firsts.map((r) => {
        const ref = r.resource === null ? null : { apiGroup: r.api_group!, resource: r.resource, subresource: r.subresource ?? '', namespace: r.namespace ?? '', name: r.name ?? '' };
        const atom = attributeKey(r.verb, ref, r.path, r.query);
        keys.want(r.actor, r.impersonated, atom);
        return atom;
      });
      await dims.resolve(c);
      const uses: StoredUse[] = [];
      firsts.forEach((r, i) => {
        const p = probeOf(r.stage, r.verb, r.subresource ?? '');
        const use = keys.useOf(r.actor, r.impersonated, atoms[i]!, p.probe, false);
        if (use) uses.push({ use, clusterId: Number(r.cluster_id), receivedAt: Number(r.received_at), auditId: r.audit_id, decision: r.decision, reasonId: r.reason_id === null ? null : Number(r.reason_id) });
      });
      actions += uses.length;
      // Counted as the writers would, claims included (no claim is taken yet).
      await recordPgUsage(c, uses);
      if (to === null) break;
      from = to;
    }
    await c.query("DELETE FROM store_flags WHERE key = 'usage_rollups_rebuild'");
    return { actions, rows: Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM usage_daily')).rows[0]!.n) };
  });
}

/** Builds the rollups a migration left pending (events stored before rollups were kept). */
export async function finishPendingPgRollups(pool: pg.Pool): Promise<void> {
  const pending = await pool.query("SELECT 1 FROM store_flags WHERE key = 'usage_rollups_rebuild'");
  if (pending.rows.length > 0) await rebuildPgUsageRollups(pool, { onlyIfPending: true });
}

/** A day's first or last request as text that sorts by its time: the time in 20 digits, then the auditID. */
const timed = (at: string, audit: string) => `lpad(${at}::text, 20, '0') || ${audit}`;

const clusterIdOf = async (pool: pg.Pool, cluster: string) =>
  (await pool.query<{ id: string }>('SELECT id FROM strings WHERE value = $1', [cluster])).rows.map((r) => Number(r.id))[0];

/** The usage reads of the port (port.ts) from usage_daily, as SQLite's (sqlite/queries/usageQuery.ts). */
export function pgUsageReads(pool: pg.Pool): UsageReads {
  return {
    async *read(f: UsageFilter) {
      const cluster = await clusterIdOf(pool, f.cluster);
      if (cluster === undefined) return;
      const params: unknown[] = [cluster, utcDay(f.since), utcDay(f.until - 1)];
      // A month of a busy cluster is some 600,000 rollup rows to group: in memory, not in
      // PostgreSQL's default 4 MB, past which it sorts on disk.
      const rows = await inTransaction(pool, async (c) => {
        await c.query("SET LOCAL work_mem = '64MB'");
        const answer = await c.query<UsageRow>(
          `SELECT s.username, s.groups, a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name, a.path,
             u.decision, r.value AS reason, u.synthetic, u.count, u.first_at, u.last_at, u.first, u.last
           FROM (SELECT subject_id, atom_id, decision, reason_id, synthetic, sum(count) AS count, min(first_at) AS first_at, max(last_at) AS last_at,
                   min(${timed('first_at', 'first_audit')}) AS first, max(${timed('last_at', 'last_audit')}) AS last
                 FROM usage_daily WHERE cluster_id = $1 AND day BETWEEN $2 AND $3
                 GROUP BY subject_id, atom_id, decision, reason_id, synthetic) u
           JOIN rbac_subjects s ON s.id = u.subject_id
           JOIN usage_atoms a ON a.id = u.atom_id
           LEFT JOIN strings r ON r.id = u.reason_id
           ${f.namespace === undefined ? '' : `WHERE a.namespace IN ($${params.push(f.namespace)}, '')`}`,
          params,
        );
        return answer.rows;
      });
      const users = new Map<string, UserAttributes>();
      // The first and last are the time in 20 digits, then the auditID.
      for (const r of rows) yield usageRecord(r, users, (timed) => timed.slice(20));
    },
    async daysCovered(f) {
      const cluster = await clusterIdOf(pool, f.cluster);
      if (cluster === undefined) return 0;
      // One probe of the primary key per day of the window, not a read of every rollup row in it.
      const r = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM generate_series($2::int, $3::int) AS d(day) WHERE EXISTS (SELECT 1 FROM usage_daily u WHERE u.cluster_id = $1 AND u.day = d.day)',
        [cluster, utcDay(f.since), utcDay(f.until - 1)],
      );
      return Number(r.rows[0]!.n);
    },
    /**
     * Each username's last request in the cluster, from the rollups, which outlive the events
     * (retention keeps them); and the first day they hold.
     */
    async accountHistory(cluster) {
      const id = await clusterIdOf(pool, cluster);
      if (id === undefined) return { lastSeen: new Map(), historyFrom: null };
      const rows = await pool.query<{ name: string; last: string }>(
        'SELECT s.username AS name, max(u.last_at) AS last FROM usage_daily u JOIN rbac_subjects s ON s.id = u.subject_id WHERE u.cluster_id = $1 GROUP BY s.username',
        [id],
      );
      const first = (await pool.query<{ day: number | null }>('SELECT min(day) AS day FROM usage_daily WHERE cluster_id = $1', [id])).rows[0]!.day;
      return { lastSeen: new Map(rows.rows.map((r) => [r.name, Number(r.last)])), historyFrom: first === null ? null : first * 86_400_000_000 };
    },
  };
}
