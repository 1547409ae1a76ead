import type pg from 'pg';
import type { Clock } from '../../clock.js';
import { DEFAULT_GAP_SETTINGS, GapWatch, type GapEvent, type GapKind, type StreamState } from '../../detect/pipelineGaps.js';
import { ConflictError, NotFoundError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { StatusReads } from '../port.js';
import { GAP_PCI, GAP_RULE, checkGapAcknowledgement, gapMessage, gapRow, type GapRow } from '../sqlite/tables/pipelineGaps.js';
import { inTransaction } from './pgStore.js';

/** Key of the advisory lock its holder watches the pipeline under. */
const WATCH_LOCK = 0x6b74_0004;
/** Arrivals are read again this far back: a writer stamps them before its transaction commits. */
const OVERLAP_MICROS = 60_000_000;
/** Arrivals are kept this long (the watch reads the last few minutes). */
const KEEP_ARRIVALS_MICROS = 86_400_000_000;

/**
 * The audit pipeline watch (PCI DSS 10.7.2) on a database several kubetrails write: every
 * writer records its arrivals (pgBatchStore.ts), and the one kubetrail holding the watch's lock
 * feeds them all to one GapWatch (detect/pipelineGaps.ts), records gaps with their alert once,
 * and keeps what it learned in pipeline_streams. When it stops or dies, its connection closes,
 * the lock is free, and the next kubetrail to tick takes over from the kept state.
 */
export class PgPipelineWatch {
  private lock: pg.PoolClient | null = null;
  private watch: GapWatch | null = null;
  private readFrom = 0;
  private readonly seen = new Map<number, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: { windowMs: number; collapseRatio: number },
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Whether this kubetrail watches now. */
  get leading(): boolean {
    return this.watch !== null;
  }

  /** One round: take the lock if it is free, then read the new arrivals, judge the windows, keep the state. */
  async tick(): Promise<void> {
    try {
      if (!this.watch && !(await this.lead())) return;
      const now = this.clock();
      const arrivals = await this.pool.query<{ id: string; at: string; cluster: string; source: string; events: number; oldest: string }>(
        'SELECT id, at, cluster, source, events, oldest FROM pipeline_arrivals WHERE at >= $1 ORDER BY at, id',
        [this.readFrom - OVERLAP_MICROS],
      );
      for (const a of arrivals.rows) {
        const id = Number(a.id);
        if (this.seen.has(id)) continue;
        this.seen.set(id, Number(a.at));
        await this.apply(this.watch!.observe(a.cluster, a.source, a.events, Number(a.at) / 1000, Number(a.oldest) / 1000));
      }
      for (const a of arrivals.rows) this.readFrom = Math.max(this.readFrom, Number(a.at));
      for (const [id, at] of this.seen) if (at < this.readFrom - OVERLAP_MICROS) this.seen.delete(id);
      await this.apply(this.watch!.tick(now));
      await this.save();
      await this.pool.query('DELETE FROM pipeline_arrivals WHERE at < $1', [now * 1000 - KEEP_ARRIVALS_MICROS]);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'the audit pipeline watch failed this round; it tries again at the next');
      await this.release();
    }
  }

  async stop(): Promise<void> {
    if (this.watch) await this.save().catch(() => undefined);
    await this.release();
  }

  private async lead(): Promise<boolean> {
    const client = await this.pool.connect();
    const got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [WATCH_LOCK])).rows[0]!.ok;
    if (!got) {
      client.release();
      return false;
    }
    this.lock = client;
    const now = this.clock();
    this.watch = new GapWatch({ ...DEFAULT_GAP_SETTINGS, ...this.settings });
    this.watch.restore(await loadPgStreams(this.pool, this.settings.windowMs), now);
    this.readFrom = now * 1000;
    this.log.info('watching the audit pipeline for every writer of the database');
    return true;
  }

  private async release(): Promise<void> {
    this.watch = null;
    const lock = this.lock;
    this.lock = null;
    if (!lock) return;
    await lock.query('SELECT pg_advisory_unlock($1)', [WATCH_LOCK]).catch(() => undefined);
    lock.release();
  }

  private async apply(events: GapEvent[]): Promise<void> {
    for (const e of events) {
      const id = await recordPgGapEvent(this.pool, e, this.settings.windowMs);
      if (e.type === 'open') this.log.warn({ gap: id, cluster: e.cluster, source: e.source, kind: e.kind, since: new Date(e.startedAt).toISOString() }, 'audit pipeline gap');
      else this.log.info({ gap: id, cluster: e.cluster, source: e.source, lateEvents: e.lateEvents }, 'audit pipeline gap closed');
    }
  }

  private async save(): Promise<void> {
    const states = this.watch!.states();
    if (states.length === 0) return;
    await this.pool.query(
      `INSERT INTO pipeline_streams (cluster, source, window_ms, baseline, learned, last_arrival)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::int[], $6::bigint[])
       ON CONFLICT (cluster, source) DO UPDATE SET window_ms = excluded.window_ms, baseline = excluded.baseline, learned = excluded.learned, last_arrival = excluded.last_arrival`,
      [states.map((s) => s.cluster), states.map((s) => s.source), states.map(() => this.settings.windowMs), states.map((s) => s.baseline), states.map((s) => s.learned), states.map((s) => Math.round(s.lastArrival))],
    );
  }
}

/** Records an opening (with its critical alert) or a closing. Returns the gap's id. */
export async function recordPgGapEvent(pool: pg.Pool, e: GapEvent, windowMs: number): Promise<number | null> {
  return inTransaction(pool, async (c) => {
    if (e.type === 'open') {
      const alert = await c.query<{ id: string }>(
        `INSERT INTO alerts (rule, severity, dedupe_key, cluster, first_at, last_at, actor, effective_user, person, count, message, pci, checkout_id, raised_at, identity)
         VALUES ($1, 'critical', $2, $3, $4, $5, 'kubetrail', 'kubetrail', NULL, 0, $6, $7, NULL, $5, NULL) RETURNING id`,
        [GAP_RULE, `${e.cluster}/${e.source}`, e.cluster, e.startedAt * 1000, e.detectedAt * 1000, gapMessage(e), JSON.stringify(GAP_PCI)],
      );
      const gap = await c.query<{ id: string }>(
        'INSERT INTO pipeline_gaps (cluster, source, kind, started_at, detected_at, expected, window_ms, alert_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id',
        [e.cluster, e.source, e.kind, e.startedAt * 1000, e.detectedAt * 1000, e.expectedPerWindow, windowMs, alert.rows[0]!.id],
      );
      return Number(gap.rows[0]!.id);
    }
    const open = (await c.query<{ id: string }>('SELECT id FROM pipeline_gaps WHERE cluster = $1 AND source = $2 AND ended_at IS NULL ORDER BY id DESC LIMIT 1', [e.cluster, e.source])).rows[0];
    if (!open) return null;
    await c.query('UPDATE pipeline_gaps SET ended_at = $1, late_events = $2 WHERE id = $3', [e.endedAt * 1000, e.lateEvents ? 1 : 0, open.id]);
    return Number(open.id);
  });
}

/** The streams kept for this window length, each with its open gap if it has one. */
async function loadPgStreams(pool: pg.Pool, windowMs: number): Promise<StreamState[]> {
  const rows = (await pool.query<{ cluster: string; source: string; baseline: number; learned: number; last_arrival: string }>('SELECT * FROM pipeline_streams WHERE window_ms = $1', [windowMs])).rows;
  const open = (await pool.query<{ cluster: string; source: string; kind: GapKind; started_at: string; late_events: number }>(
    'SELECT DISTINCT ON (cluster, source) cluster, source, kind, started_at, late_events FROM pipeline_gaps WHERE ended_at IS NULL ORDER BY cluster, source, id DESC',
  )).rows;
  return rows.map((r) => {
    const g = open.find((x) => x.cluster === r.cluster && x.source === r.source);
    return { cluster: r.cluster, source: r.source, baseline: r.baseline, learned: r.learned, lastArrival: Number(r.last_arrival), gap: g ? { kind: g.kind, startedAt: Number(g.started_at) / 1000, lateEvents: g.late_events === 1 } : null };
  });
}

/** Gaps as the status API reads them, and their acknowledgement (10.7.3). */
export function pgGapReads(pool: pg.Pool): Pick<StatusReads, 'gaps' | 'acknowledgeGap'> {
  const gaps = async (f: { since?: number; cluster?: string; open?: boolean }, nowMicros: number): Promise<GapRow[]> => {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    if (f.since !== undefined) where.push(`coalesce(ended_at, ${p(nowMicros)}) >= ${p(f.since)}`);
    if (f.cluster !== undefined) where.push(`cluster = ${p(f.cluster)}`);
    if (f.open) where.push('ended_at IS NULL');
    const rows = (await pool.query(`SELECT * FROM pipeline_gaps ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC`, params)).rows;
    return rows.map((r) => gapRow(r, nowMicros));
  };
  return {
    gaps,
    acknowledgeGap: async (id, a, nowMicros) => {
      checkGapAcknowledgement(a);
      await inTransaction(pool, async (c) => {
        const row = (await c.query<{ acked_at: string | null; alert_id: string | null }>('SELECT acked_at, alert_id FROM pipeline_gaps WHERE id = $1 FOR UPDATE', [id])).rows[0];
        if (!row) throw new NotFoundError(`no pipeline gap #${id}`);
        if (row.acked_at !== null) throw new ConflictError(`pipeline gap #${id} is already acknowledged`);
        await c.query('UPDATE pipeline_gaps SET cause = $1, remediation = $2, acked_by = $3, acked_at = $4 WHERE id = $5', [a.cause, a.remediation, a.by, nowMicros, id]);
        if (row.alert_id !== null) await c.query("UPDATE alerts SET status = 'acknowledged', acked_by = $1, acked_at = $2 WHERE id = $3 AND status = 'open'", [a.by, nowMicros, row.alert_id]);
      });
      return (await gaps({}, nowMicros)).find((g) => g.id === id)!;
    },
  };
}
