import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { utcDay } from '../../calendar.js';
import { nowMicros, type Clock } from '../../clock.js';
import { quarantineForm } from '../../audit/quarantineForm.js';
import { createRedactor, type Redactor } from '../../audit/redact.js';
import type { RejectedInput } from '../../audit/types.js';
import { StoreUnavailableError, errorMessage } from '../../errors.js';
import type { Arrival, BatchStore, WriteOptions, WriteResult } from '../port.js';
import { F, RECORD_WIDTH, VALUE_DIMENSIONS, oldestReceivedAt, tokenKey, type RecordBatch } from '../recordBatch.js';
import type { FollowOffset } from '../sqlite/tables/followOffsets.js';
import { compileIdentityMap, type IdentityRule } from '../../identity/identityMap.js';
import { PgChainStream, type ChainedRow, type DimensionRows, type DimensionTable } from './pgChain.js';
import { recordPgFindings, type Attribute, type StoredFinding } from './pgAlerts.js';
import { PgDimensions, partsColumns, type PgDimension } from './pgDimensions.js';
import { inTransaction, type PgStore } from './pgStore.js';
import { storableText } from './pgText.js';
import { PgUseKeys, probeOf, recordPgUsage, type RowUse, type StoredUse } from './pgUsage.js';
import { splitParts } from '../../partsKey.js';

/** The columns of an event row, in the order rows are built and sent. */
export const EVENT_ROW_COLUMNS = [
  'cluster_id', 'audit_id', 'stage', 'level', 'received_at', 'stage_delay', 'verb_id', 'user_id', 'impersonated_id',
  'source_ips_id', 'user_agent_id', 'resource_id', 'object_id', 'resource_version', 'path_id', 'query', 'code',
  'decision', 'reason_id', 'annotations_id', 'shape', 'residual', 'source_version', 'has_body', 'token_id',
] as const;
const COLUMNS = EVENT_ROW_COLUMNS;
/** Their PostgreSQL types. */
export const EVENT_ROW_TYPES = [
  'bigint', 'text', 'smallint', 'smallint', 'bigint', 'bigint', 'integer', 'bigint', 'bigint',
  'bigint', 'bigint', 'integer', 'bigint', 'bigint', 'bigint', 'text', 'smallint',
  'smallint', 'bigint', 'bigint', 'smallint', 'text', 'smallint', 'smallint', 'bigint',
];
/** A session's staging table for COPY, emptied after each batch and at commit. */
const STAGING = `CREATE TEMP TABLE IF NOT EXISTS kt_staging (${COLUMNS.map((c, i) => `${c} ${EVENT_ROW_TYPES[i]}`).join(', ')}) ON COMMIT DELETE ROWS`;

/** Rows in COPY's text format, a chunk at a time. */
function* copyText(rows: Row[]): Generator<string> {
  let chunk = '';
  for (const r of rows) {
    chunk += r.map(copyValue).join('\t') + '\n';
    if (chunk.length > 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function copyValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number') return String(v);
  return String(v).replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

const C = Object.fromEntries(COLUMNS.map((c, i) => [c, i])) as Record<(typeof COLUMNS)[number], number>;
/** Columns compared to tell a conflicting duplicate (the source version says how it came, not what it says). */
const COMPARED = COLUMNS.filter((c) => c !== 'source_version');

type Row = unknown[];

/** A batch as rows to send (null: not stored, and in `rejected` instead). */
interface Prepared {
  batch: RecordBatch;
  rows: (Row | null)[];
  /** What each row counts as use of (usage rollups), or null. */
  uses: (RowUse | null)[];
  rejected: RejectedInput[];
}

const TABLE_OF: Record<(typeof VALUE_DIMENSIONS)[number], DimensionTable | null> = { strings: 'strings', verbs: 'verbs', apiResources: 'api_resources', objects: 'objects', usageAtoms: null };

/** What one transaction stored that its chain link and its alerts cover. */
interface Stored {
  rows: ChainedRow[];
  findings: StoredFinding[];
  uses: StoredUse[];
}

/** The record fields that name a value of the batch (VALUE_DIMENSIONS). */
const VALUE_FIELDS = [F.verb, F.sourceIPs, F.userAgent, F.apiResource, F.object, F.path, F.reason, F.annotations];

const hasNul = (v: string | null | undefined): boolean => typeof v === 'string' && v.includes('\u0000');

interface PendingWrite {
  batches: RecordBatch[];
  options: WriteOptions;
  resolve(results: WriteResult[]): void;
  reject(err: unknown): void;
}

/** Events at most in one transaction of writes merged while the store was busy. */
const MERGED_EVENTS = 20_000;
const sizeOf = (w: PendingWrite) => w.batches.reduce((n, b) => n + b.size + b.rejected.length, 0);
const DAY_MICROS = 86_400_000_000;

export interface PgBatchStoreOptions {
  clock: Clock;
  redactionKey: Uint8Array;
  quarantineMaxBytes?: number;
  /**
   * Days before today that get a partition of their own (retention.hotDays): older ones go to
   * the default partition, so that a late event of a day retention archived does not bring
   * its partition back.
   */
  pastDays?: number;
  /** Days after today that do (a clock running ahead). */
  futureDays?: number;
  /** Who is who (config identityMap): the person an alert names. */
  identityMap?: readonly IdentityRule[];
  /** Findings of one alert key within this many seconds join one alert (config alerts.throttleSeconds). */
  alertThrottleSeconds?: number;
}

/**
 * Commits batches to PostgreSQL: the BatchStore of the port (port.ts) for a store that several
 * kubetrails write at once. One write is one transaction: its events (deduplicated on the
 * primary key, whoever stored them first), their bodies, the rejected input and the `--follow`
 * position. Writes from this process are committed one after another, in order.
 *
 * Detections' findings join or open alerts in the same transaction (pgAlerts.ts), and the
 * transaction appends a link to this writer's hash chain stream (pgChain.ts).
 *
 * The usage rollups are added to in the same transaction (pgUsage.ts). Identities and the
 * activity rollups are SQLite's own: on PostgreSQL they are read from the events.
 */
export class PgBatchStore implements BatchStore {
  readonly redactionKey: Uint8Array;
  private readonly redact: Redactor;
  private readonly attribute: Attribute;
  private readonly dims = new PgDimensions();
  private readonly useKeys = new PgUseKeys(this.dims);
  private readonly partitions = new Set<number>();
  private pending: PendingWrite[] = [];
  private running: Promise<void> | null = null;
  private waiting = 0;
  private backlogWatchers: { atMost: number; resolve: () => void }[] = [];
  private readonly listeners: ((a: Arrival) => void)[] = [];
  private failure: Error | null = null;

  private constructor(
    private readonly store: PgStore,
    private readonly options: PgBatchStoreOptions,
    private readonly offsets: Map<string, FollowOffset>,
    private readonly chain: PgChainStream,
  ) {
    this.redactionKey = options.redactionKey;
    this.redact = createRedactor(options.redactionKey);
    this.attribute = compileIdentityMap(options.identityMap ?? []);
  }

  /** A writer of `store`, which it closes when it closes. */
  static async open(store: PgStore, options: PgBatchStoreOptions): Promise<PgBatchStore> {
    const rows = await store.pool.query<{ path: string; cluster: string; device: string; inode: string; head_hash: string; offset: string; line: string }>(
      'SELECT path, cluster, device, inode, head_hash, "offset", line FROM follow_offsets',
    );
    const offsets = new Map(rows.rows.map((r) => [r.path, { path: r.path, cluster: r.cluster, device: Number(r.device), inode: Number(r.inode), headHash: r.head_hash, offset: Number(r.offset), line: Number(r.line) }]));
    return new PgBatchStore(store, options, offsets, await PgChainStream.open(store.pool, options.clock));
  }

  /** The head of this writer's hash chain stream, for recording outside the store. */
  chainHead(): { stream: number; seq: number; hash: string } | null {
    const h = this.chain.head();
    return h && { stream: this.chain.id, ...h };
  }

  get problem(): string | null {
    return this.failure?.message ?? null;
  }

  get backlog(): number {
    return this.waiting;
  }

  whenBacklogAtMost(n: number): Promise<void> {
    if (this.waiting <= n) return Promise.resolve();
    return new Promise((resolve) => this.backlogWatchers.push({ atMost: n, resolve }));
  }

  onCommitted(listen: (arrival: Arrival) => void): void {
    this.listeners.push(listen);
  }

  followOffset(path: string): FollowOffset | null {
    return this.offsets.get(path) ?? null;
  }

  write(batches: RecordBatch[], options: WriteOptions = {}): Promise<WriteResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<WriteResult[]>((resolve, reject) => {
      this.pending.push({ batches, options, resolve, reject });
      this.waiting++;
      if (!this.running) this.running = this.drain();
    });
  }

  /** Waits for the writes handed over, then closes the store it writes to. */
  async close(): Promise<void> {
    while (this.running) await this.running;
    await this.store.close();
  }

  /**
   * Commits the writes waiting, several at a time: while one transaction runs, the writes
   * handed over meanwhile wait, and go together in the next (up to MERGED_EVENTS events), so
   * that a writer behind sends fewer, larger transactions. Each write keeps its own results.
   */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const take: PendingWrite[] = [];
      let events = 0;
      while (this.pending.length > 0 && (take.length === 0 || events + sizeOf(this.pending[0]!) <= MERGED_EVENTS)) {
        const w = this.pending.shift()!;
        events += sizeOf(w);
        take.push(w);
      }
      try {
        const results = await this.commit(take);
        take.forEach((w, i) => w.resolve(results[i]!));
      } catch (err) {
        for (const w of take) w.reject(err);
      }
      this.waiting -= take.length;
      this.notifyBacklog();
    }
    this.running = null;
  }

  private async commit(writes: PendingWrite[]): Promise<WriteResult[][]> {
    const batches = writes.flatMap((w) => w.batches);
    let flat: WriteResult[];
    try {
      const dims: DimensionRows = new Map();
      const prepared = await this.rowsOf(batches, dims);
      await this.ensurePartitions(prepared.flatMap((p) => p.rows.flatMap((r) => (r ? [r[C.received_at] as number] : []))));
      flat = await this.transaction(prepared, dims, writes.map((w) => w.options.followOffset).filter((o): o is FollowOffset => o !== undefined));
    } catch (err) {
      throw new StoreUnavailableError(`PostgreSQL: ${errorMessage(err)}`);
    }
    for (const w of writes) if (w.options.followOffset) this.offsets.set(w.options.followOffset.path, w.options.followOffset);
    for (const b of batches) {
      if (b.size === 0) continue;
      const a = { cluster: b.cluster, source: b.source, events: b.size, oldest: oldestReceivedAt(b) };
      for (const listen of this.listeners) listen(a);
    }
    let next = 0;
    return writes.map((w) => flat.slice(next, (next += w.batches.length)));
  }

  /**
   * The batches' rows of ids, with their values interned. PostgreSQL's text cannot hold U+0000,
   * which JSON can carry (\u0000): an event with one in a field kept as text is not stored but
   * quarantined alone (its row is null), and the others of its batch are stored.
   */
  private async rowsOf(batches: RecordBatch[], dims: DimensionRows): Promise<Prepared[]> {
    const d = this.dims;
    d.startBatch();
    const nul = batches.map((b) => ({
      cluster: hasNul(b.cluster),
      values: b.values.map((v, i) => {
        const name = VALUE_DIMENSIONS[b.valueDimensions[i]!]!;
        if (name === 'usageAtoms') return false;
        // Their key joins the parts with U+0000 (partsKey.ts): what is stored is each part.
        if (name === 'apiResources' || name === 'objects') return partsColumns(name, v).some((x) => typeof x === 'string' && hasNul(x));
        return hasNul(v);
      }),
      principals: b.principals.map(([, username]) => hasNul(username)),
      tokens: b.tokens.map(([p, , credentialId]) => hasNul(credentialId) || hasNul(b.principals[p]![1])),
    }));
    batches.forEach((b, k) => {
      const bad = nul[k]!;
      if (bad.cluster) return;
      d.want('strings', b.cluster, () => [b.cluster]);
      b.principals.forEach(([json, username], i) => bad.principals[i] || d.want('principals', json, () => [json, username]));
      b.tokens.forEach(([p, json, credentialId], i) => {
        if (!bad.tokens[i]) d.want('userTokens', tokenKey(json, credentialId), () => [d.id('principals', b.principals[p]![0]), credentialId, json]);
      });
      for (let r = 0; r < b.size; r++) {
        const at = r * RECORD_WIDTH;
        const atom = b.numbers[at + F.usageAtom]!;
        const [user, impersonated] = [b.numbers[at + F.user]!, b.numbers[at + F.impersonatedUser]!];
        if (atom < 0 || user < 0 || bad.principals[user] || (impersonated >= 0 && bad.principals[impersonated])) continue;
        this.useKeys.want(b.principals[user]![0], impersonated >= 0 ? b.principals[impersonated]![0] : null, b.values[atom]!);
      }
      b.values.forEach((v, i) => {
        const name = VALUE_DIMENSIONS[b.valueDimensions[i]!]!;
        // Usage atoms are asked for with their rows' users above.
        if (name === 'usageAtoms' || bad.values[i]) return;
        d.want(name, v, () => (name === 'apiResources' || name === 'objects' ? partsColumns(name, v) : [v]));
      });
    });
    await d.resolve(this.store.pool);
    const noted = (table: DimensionTable, id: number, columns: () => readonly unknown[]): number => {
      let m = dims.get(table);
      if (!m) dims.set(table, (m = new Map()));
      if (!m.has(id)) m.set(id, columns());
      return id;
    };
    return batches.map((b, k) => {
      const bad = nul[k]!;
      const n = b.numbers;
      const valueId = (i: number): number | null => {
        if (n[i]! < 0) return null;
        const name = VALUE_DIMENSIONS[b.valueDimensions[n[i]!]!]!;
        const v = b.values[n[i]!]!;
        return noted(TABLE_OF[name]!, d.id(name as PgDimension, v), () => (name === 'apiResources' || name === 'objects' ? partsColumns(name, v) : [v]));
      };
      const num = (i: number): number | null => (Number.isNaN(n[i]!) ? null : n[i]!);
      const rows: (Row | null)[] = [];
      const uses: (RowUse | null)[] = [];
      const rejected: RejectedInput[] = [];
      for (let r = 0; r < b.size; r++) {
        const at = r * RECORD_WIDTH;
        const token = n[at + F.token]!;
        const refersToNul =
          bad.cluster || hasNul(b.auditIDs[r]) || hasNul(b.queries[r]) ||
          VALUE_FIELDS.some((f) => n[at + f]! >= 0 && bad.values[n[at + f]!]) ||
          [F.user, F.impersonatedUser].some((f) => n[at + f]! >= 0 && bad.principals[n[at + f]!]) ||
          (token >= 0 && bad.tokens[token]);
        if (refersToNul) {
          rows.push(null);
          uses.push(null);
          rejected.push({ position: b.positions[r]!, reason: 'a field holds the character U+0000, which PostgreSQL cannot store as text: this event was not stored', raw: JSON.stringify({ auditID: b.auditIDs[r] }) });
          continue;
        }
        const user = (i: number) => {
          if (n[i]! < 0) return null;
          const [json, username] = b.principals[n[i]!]!;
          return noted('principals', d.id('principals', json), () => [json, username]);
        };
        const tokenId = () => {
          const [, json, credentialId] = b.tokens[token]!;
          return noted('user_tokens', d.id('userTokens', tokenKey(json, credentialId)), () => [credentialId, json]);
        };
        rows.push([
          noted('strings', d.id('strings', b.cluster), () => [b.cluster]), b.auditIDs[r]!, n[at + F.stage], n[at + F.level], n[at + F.receivedAt], n[at + F.stageDelay], valueId(at + F.verb), user(at + F.user), user(at + F.impersonatedUser),
          valueId(at + F.sourceIPs), valueId(at + F.userAgent), valueId(at + F.apiResource), valueId(at + F.object), num(at + F.resourceVersion), valueId(at + F.path), b.queries[r], num(at + F.code),
          n[at + F.decision], valueId(at + F.reason), valueId(at + F.annotations), n[at + F.shape], b.residuals[r], n[at + F.sourceVersion], n[at + F.hasBody],
          token < 0 ? null : tokenId(),
        ]);
        const atom = n[at + F.usageAtom]!;
        const [actor, impersonated] = [n[at + F.user]!, n[at + F.impersonatedUser]!];
        if (atom < 0 || actor < 0) uses.push(null);
        else {
          const key = b.values[atom]!;
          const parts = splitParts(key);
          const p = probeOf(n[at + F.stage]!, parts[0]!, parts[3]!);
          uses.push(this.useKeys.useOf(b.principals[actor]![0], impersonated >= 0 ? b.principals[impersonated]![0] : null, key, p.probe, p.loneStart));
        }
      }
      return { batch: b, rows, uses, rejected };
    });
  }

  /**
   * Creates the partitions of the days the rows fall on, before the transaction that stores
   * them (creating one locks the parent table): days in [today − pastDays, today + futureDays]
   * get one; other times go to the default partition. A day whose rows already sit in the
   * default partition stays there (PostgreSQL refuses the partition), which keeps every key in
   * one place.
   */
  private async ensurePartitions(times: number[]): Promise<void> {
    const today = utcDay(nowMicros(this.options.clock));
    const lo = today - (this.options.pastDays ?? 90);
    const hi = today + (this.options.futureDays ?? 7);
    const days = new Set<number>();
    for (const t of times) {
      const day = Math.floor(t / DAY_MICROS);
      if (day >= lo && day <= hi && !this.partitions.has(day)) days.add(day);
    }
    for (const day of [...days].sort((a, b) => a - b)) {
      try {
        await inTransaction(this.store.pool, async (client) => {
          // One writer at a time creates partitions: two CREATE TABLE IF NOT EXISTS of the same day race.
          await client.query('SELECT pg_advisory_xact_lock($1)', [0x6b74_0002]);
          const name = `events_d${new Date(day * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}`;
          await client.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF events FOR VALUES FROM (${day * DAY_MICROS}) TO (${(day + 1) * DAY_MICROS})`);
        });
      } catch (err) {
        // 23514: the default partition holds rows of that day; they stay there.
        if ((err as { code?: string }).code !== '23514') throw err;
      }
      this.partitions.add(day);
    }
  }

  private async transaction(prepared: Prepared[], dims: DimensionRows, followOffsets: FollowOffset[]): Promise<WriteResult[]> {
    const { results, link } = await inTransaction(this.store.pool, async (client) => {
      const results: WriteResult[] = [];
      const stored: Stored = { rows: [], findings: [], uses: [] };
      for (const p of prepared) results.push(await this.writeBatch(client, p, stored));
      // After every insert, in key order, like the alerts' locks below.
      await recordPgUsage(client, stored.uses);
      await widenClusterSpans(client, stored.rows);
      // After every insert of the transaction: see pgAlerts.ts on locks.
      await recordPgFindings(client, stored.findings, { throttleMicros: (this.options.alertThrottleSeconds ?? 3600) * 1e6, clock: this.options.clock, attribute: this.attribute });
      const link = await this.chain.append(client, stored.rows, COLUMNS, dims);
      // What arrived, for the pipeline watch of whichever kubetrail holds it (pgPipelineWatch.ts).
      const arrived = prepared.map((p) => p.batch).filter((b) => b.size > 0);
      if (arrived.length > 0) {
        await client.query('INSERT INTO pipeline_arrivals (at, cluster, source, events, oldest) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[])', [
          nowMicros(this.options.clock), arrived.map((b) => storableText(b.cluster)), arrived.map((b) => b.source), arrived.map((b) => b.size), arrived.map((b) => oldestReceivedAt(b)),
        ]);
      }
      // In the order handed over: the last position of a file is the one kept.
      for (const o of followOffsets) {
        await client.query(
          `INSERT INTO follow_offsets (path, cluster, device, inode, head_hash, "offset", line, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (path) DO UPDATE SET cluster = excluded.cluster, device = excluded.device, inode = excluded.inode, head_hash = excluded.head_hash,
             "offset" = excluded."offset", line = excluded.line, updated_at = excluded.updated_at`,
          [o.path, o.cluster, o.device, o.inode, o.headHash, o.offset, o.line, nowMicros(this.options.clock)],
        );
      }
      return { results, link };
    });
    this.chain.advance(link);
    return results;
  }

  /** Stores one batch; adds the events it stored and their findings to `stored`. */
  private async writeBatch(client: pg.PoolClient, { batch, rows, uses, rejected }: Prepared, stored: Stored): Promise<WriteResult> {
    const result: WriteResult = { accepted: 0, duplicates: 0, quarantined: 0, conflicts: 0 };
    const keyOf = (r: Row) => `${r[C.received_at]}|${r[C.cluster_id]}|${r[C.stage]}|${r[C.audit_id]}`;
    // The first of a key within the batch is sent; a repeat is a duplicate of it.
    const first = new Map<string, number>();
    rows.forEach((r, i) => r === null || first.has(keyOf(r)) || first.set(keyOf(r), i));
    const sent = [...first.values()];
    const inserted = new Map<string, number>();
    if (sent.length > 0) {
      // Through a staging table filled by COPY, then one INSERT … ON CONFLICT: COPY is the
      // fastest way in, and the INSERT is where duplicates are told apart. In key order:
      // writers inserting the same keys wait for one another instead of deadlocking.
      await client.query(STAGING);
      await pipeline(Readable.from(copyText(sent.map((i) => rows[i]!))), client.query(copyStreams.from(`COPY kt_staging (${COLUMNS.join(', ')}) FROM STDIN`)));
      const returned = await client.query<{ id: string; received_at: string; cluster_id: string; stage: number; audit_id: string }>(
        `INSERT INTO events (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')} FROM kt_staging ORDER BY received_at, cluster_id, audit_id, stage
         ON CONFLICT DO NOTHING RETURNING id, received_at, cluster_id, stage, audit_id`,
      );
      await client.query('TRUNCATE kt_staging');
      for (const r of returned.rows) inserted.set(`${r.received_at}|${r.cluster_id}|${r.stage}|${r.audit_id}`, Number(r.id));
    }
    const bodies: [number, number, Uint8Array | null, Uint8Array | null][] = [];
    const duplicates: number[] = [];
    /** The id each stored row got, by its index in the batch. */
    const ids = new Map<number, number>();
    rows.forEach((r, i) => {
      if (r === null) return;
      const id = first.get(keyOf(r)) === i ? inserted.get(keyOf(r)) : undefined;
      if (id === undefined) {
        duplicates.push(i);
        return;
      }
      result.accepted++;
      ids.set(i, id);
      const withBody = r[C.has_body] === 1;
      if (withBody) bodies.push([id, r[C.received_at] as number, batch.requests[i] ?? null, batch.responses[i] ?? null]);
      stored.rows.push({ id, values: r, request: withBody ? batch.requests[i] ?? null : null, response: withBody ? batch.responses[i] ?? null : null });
      const use = uses[i];
      if (use) stored.uses.push({ use, clusterId: r[C.cluster_id] as number, receivedAt: r[C.received_at] as number, auditId: r[C.audit_id] as string, decision: r[C.decision] as number, reasonId: r[C.reason_id] as number | null });

    });
    if (bodies.length > 0) {
      await client.query('INSERT INTO bodies (event_id, received_at, request, response) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])', [
        bodies.map((b) => b[0]), bodies.map((b) => b[1]), bodies.map((b) => toBuffer(b[2])), bodies.map((b) => toBuffer(b[3])),
      ]);
    }
    const issued = batch.issued.filter(([i]) => ids.has(i));
    if (issued.length > 0) {
      await client.query('INSERT INTO issued_credentials (credential_id, event_id, minter_id) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])', [
        issued.map(([, credentialId]) => credentialId), issued.map(([i]) => ids.get(i)!), issued.map(([i]) => rows[i]![C.user_id]),
      ]);
    }
    for (const f of batch.findings) {
      const i = f[0];
      if (!ids.has(i)) continue;
      const user = batch.numbers[i * RECORD_WIDTH + F.user]!;
      const receivedAt = rows[i]![C.received_at] as number;
      stored.findings.push({ finding: f, cluster: batch.cluster, receivedAt, auditID: batch.auditIDs[i]!, principalJson: user >= 0 ? batch.principals[user]![0] : null });
    }
    result.duplicates = duplicates.length;
    if (duplicates.length > 0) await this.findConflicts(client, batch, rows, duplicates, result);
    for (const rej of [...batch.rejected, ...rejected]) {
      await this.quarantine(client, batch.source, batch.cluster, rej);
      result.quarantined++;
    }
    return result;
  }

  /** Duplicates whose content differs from the stored event are kept in the quarantine for review. */
  private async findConflicts(client: pg.PoolClient, batch: RecordBatch, rows: (Row | null)[], duplicates: number[], result: WriteResult): Promise<void> {
    const keys = duplicates.map((i) => rows[i]!);
    const stored = await client.query<Record<string, unknown>>(
      `SELECT ${COMPARED.join(', ')} FROM events e
       WHERE (received_at, cluster_id, audit_id, stage) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::smallint[]))`,
      [keys.map((r) => r[C.received_at]), keys.map((r) => r[C.cluster_id]), keys.map((r) => r[C.audit_id]), keys.map((r) => r[C.stage])],
    );
    const byKey = new Map(stored.rows.map((s) => [`${s.received_at}|${s.cluster_id}|${s.stage}|${s.audit_id}`, s]));
    for (const i of duplicates) {
      const r = rows[i]!;
      const s = byKey.get(`${r[C.received_at]}|${r[C.cluster_id]}|${r[C.stage]}|${r[C.audit_id]}`);
      // Within the batch, a repeat of a row not stored before compares with the row sent.
      const same = s ? COMPARED.every((c) => sameValue(r[C[c]], s[c])) : true;
      if (same) continue;
      result.conflicts++;
      const stage = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'][(r[C.stage] as number) - 1] ?? String(r[C.stage]);
      const reason = `conflicting duplicate: auditID ${String(r[C.audit_id])} stage ${stage} is already stored with different content; this copy was not stored`;
      await this.quarantine(client, batch.source, batch.cluster, { position: batch.positions[i]!, reason, raw: JSON.stringify({ auditID: r[C.audit_id], stage }) });
    }
  }

  /** Keeps rejected input in its safe form: redacted, never the secrets it may hold. */
  private async quarantine(client: pg.PoolClient, source: string, cluster: string, rej: RejectedInput): Promise<void> {
    const q = quarantineForm(rej.raw, this.redact, this.options.quarantineMaxBytes ?? 1 << 20);
    await client.query('INSERT INTO quarantine (received_at, source, cluster, position, reason, raw, raw_size, raw_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      nowMicros(this.options.clock), source, storableText(cluster), storableText(rej.position), storableText(rej.reason), toBuffer(q.kept), q.size, q.sha256,
    ]);
  }

  private notifyBacklog(): void {
    const due = this.backlogWatchers.filter((w) => this.waiting <= w.atMost);
    this.backlogWatchers = this.backlogWatchers.filter((w) => this.waiting > w.atMost);
    for (const w of due) w.resolve();
  }
}

/** Widens each cluster's span of stored request times (cluster_spans), one row per cluster, in cluster order. */
async function widenClusterSpans(client: pg.PoolClient, rows: readonly ChainedRow[]): Promise<void> {
  const spans = new Map<number, [number, number]>();
  for (const r of rows) {
    const cluster = r.values[C.cluster_id] as number;
    const at = r.values[C.received_at] as number;
    const s = spans.get(cluster);
    if (!s) spans.set(cluster, [at, at]);
    else if (at < s[0]) s[0] = at;
    else if (at > s[1]) s[1] = at;
  }
  if (spans.size === 0) return;
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  await client.query(
    `INSERT INTO cluster_spans (cluster_id, first_at, last_at) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
     ON CONFLICT (cluster_id) DO UPDATE SET first_at = least(cluster_spans.first_at, excluded.first_at), last_at = greatest(cluster_spans.last_at, excluded.last_at)`,
    [sorted.map(([c]) => c), sorted.map(([, s]) => s[0]), sorted.map(([, s]) => s[1])],
  );
}

/** A row value and the stored one (bigints come back as text). */
function sameValue(sent: unknown, stored: unknown): boolean {
  if (sent === null || sent === undefined) return stored === null;
  if (typeof sent === 'number') return stored !== null && Number(stored) === sent;
  return sent === stored;
}

function toBuffer(bytes: Uint8Array | string | null): Buffer | null {
  if (bytes === null) return null;
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
