import type pg from 'pg';
import type { ChainProblem, VerifyReport } from '../sqlite/chain/verifyChain.js';
import { DIMENSION_COLUMNS, DIMENSION_OF_COLUMN, GENESIS, decodeIds, dimensionsHash, linkHash, rowHash, rowsRecord, type ChainedRow, type DimensionTable, type PgLink } from './pgChain.js';
import { EVENT_ROW_COLUMNS } from './pgBatchStore.js';

const MAX_PROBLEMS = 100;
const DAY_MICROS = 86_400_000_000;
/** The events' bigint columns, which come back as text. */
const BIGINT = new Set(['cluster_id', 'received_at', 'stage_delay', 'user_id', 'impersonated_id', 'source_ips_id', 'user_agent_id', 'object_id', 'resource_version', 'path_id', 'reason_id', 'annotations_id', 'token_id']);
const RECEIVED_AT = EVENT_ROW_COLUMNS.indexOf('received_at');

interface LinkRow {
  stream_id: string;
  seq: string;
  committed_at: string;
  rows: number;
  event_ids: Buffer;
  digests: Buffer;
  days: string;
  dims: Buffer;
  link: Buffer;
}

function toLink(r: LinkRow): PgLink {
  return {
    streamId: Number(r.stream_id), seq: Number(r.seq), committedAt: Number(r.committed_at), rows: r.rows,
    eventIds: r.event_ids, digests: r.digests, days: JSON.parse(r.days) as [number, number, string][], dims: r.dims, link: r.link,
  };
}

const iso = (micros: number) => new Date(micros / 1000).toISOString();

/**
 * `kubetrail verify` on PostgreSQL: recomputes every writer's stream (pgChain.ts) from the rows as
 * they are now, and names the first event or link changed, deleted or inserted behind
 * kubetrail's back: a row that differs from its link's digest, a row a link names that is
 * missing, an event no link covers, a dimension row its events point to that was altered, a
 * link missing from its stream or not hashing as recorded. With `sinceMicros`, links committed
 * before it are taken as stored (the rows no link covers are looked for in the whole store).
 */
export async function verifyPgChain(pool: pg.Pool, options: { sinceMicros?: number } = {}): Promise<VerifyReport & { streams: { stream: number; writer: string; seq: number; hash: string; committedAt: string }[] }> {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const streams = (await pool.query<{ id: string; writer: string }>('SELECT id, writer FROM chain_streams ORDER BY id')).rows;
  const heads: { stream: number; writer: string; seq: number; hash: string; committedAt: string }[] = [];
  const covered: number[] = [];
  let links = 0;
  let rows = 0;
  for (const s of streams) {
    const stream = Number(s.id);
    let prev: Buffer = GENESIS;
    let expected = 1;
    let head: PgLink | null = null;
    const stored = (await pool.query<LinkRow>('SELECT * FROM chain_links WHERE stream_id = $1 ORDER BY seq', [stream])).rows.map(toLink);
    for (const link of stored) {
      const ids = decodeIds(link.eventIds);
      covered.push(...ids);
      head = link;
      const checked = options.sinceMicros === undefined || link.committedAt >= options.sinceMicros;
      if (checked) {
        links++;
        if (link.seq !== expected) report({ kind: 'link', seq: link.seq, detail: `stream ${stream}: links ${expected}..${link.seq - 1} are missing` });
        const { problems: found, rows: n } = await checkLink(pool, link, ids);
        rows += n;
        found.forEach(report);
        // Over the previous link as stored (taken as stored when it is before `sinceMicros`).
        const { link: _stored, ...claims } = link;
        if (link.seq === expected && found.length === 0 && !linkHash(prev, claims).equals(link.link)) {
          report({ kind: 'link', seq: link.seq, detail: `stream ${stream} link ${link.seq} does not hash as recorded: the link record, or the one before it, was altered` });
        }
      }
      prev = link.link;
      expected = link.seq + 1;
    }
    if (head) heads.push({ stream, writer: s.writer, seq: head.seq, hash: head.link.toString('hex'), committedAt: iso(head.committedAt) });
  }
  // Events no link covers were stored outside any transaction of a kubetrail writer.
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('CREATE TEMP TABLE kt_covered (id bigint PRIMARY KEY) ON COMMIT DROP');
    for (let i = 0; i < covered.length; i += 100_000) await client.query('INSERT INTO kt_covered SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING', [covered.slice(i, i + 100_000)]);
    const outside = await client.query<{ id: string }>(`SELECT e.id FROM events e WHERE NOT EXISTS (SELECT 1 FROM kt_covered c WHERE c.id = e.id) ORDER BY e.id LIMIT ${MAX_PROBLEMS}`);
    for (const r of outside.rows) report({ kind: 'inserted', seq: null, eventId: Number(r.id), detail: `event ${r.id} is in no link of any writer's stream` });
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const newest = heads.reduce<(typeof heads)[number] | null>((a, h) => (!a || h.committedAt > a.committedAt ? h : a), null);
  return {
    ok: problems.length === 0,
    links,
    rows,
    head: newest && { seq: newest.seq, hash: newest.hash, committedAt: newest.committedAt },
    since: options.sinceMicros === undefined ? null : iso(options.sinceMicros),
    problems,
    unchainedDimensionRows: 0,
    archivedRows: 0,
    streams: heads,
  };
}

/** The rows of one link against its record: each row's digest, the days' hashes, the dimension rows they point to. */
async function checkLink(pool: pg.Pool, link: PgLink, ids: number[]): Promise<{ problems: ChainProblem[]; rows: number }> {
  const problems: ChainProblem[] = [];
  const where = `${link.streamId} link ${link.seq}`;
  if (ids.length !== link.rows || link.digests.length !== link.rows * 4) {
    return { problems: [{ kind: 'link', seq: link.seq, detail: `stream ${where} records ${link.rows} rows but ${ids.length} ids and ${link.digests.length / 4} digests` }], rows: 0 };
  }
  // Bounded by the link's days, so that only their partitions are read.
  const days = link.days.map(([d]) => d);
  const from = Math.min(...days) * DAY_MICROS;
  const to = (Math.max(...days) + 1) * DAY_MICROS;
  const found = await pool.query<Record<string, unknown>>(
    `SELECT id, ${EVENT_ROW_COLUMNS.join(', ')} FROM events WHERE id = ANY($1::bigint[]) AND received_at >= $2 AND received_at < $3`,
    [ids, from, to],
  );
  const bodies = new Map(
    (await pool.query<{ event_id: string; request: Buffer | null; response: Buffer | null }>('SELECT event_id, request, response FROM bodies WHERE event_id = ANY($1::bigint[])', [ids])).rows.map((b) => [Number(b.event_id), b]),
  );
  const byId = new Map<number, ChainedRow>();
  for (const r of found.rows) {
    const id = Number(r.id);
    const values = EVENT_ROW_COLUMNS.map((c) => (BIGINT.has(c) && r[c] !== null ? Number(r[c]) : r[c]));
    const b = values[EVENT_ROW_COLUMNS.indexOf('has_body')] === 1 ? bodies.get(id) : undefined;
    byId.set(id, { id, values, request: b?.request ?? null, response: b?.response ?? null });
  }
  const present: ChainedRow[] = [];
  ids.forEach((id, i) => {
    const row = byId.get(id);
    if (!row) {
      problems.push({ kind: 'deleted', seq: link.seq, eventId: id, detail: `event ${id} of stream ${where} is missing` });
      return;
    }
    present.push(row);
    if (!rowHash(row).subarray(0, 4).equals(link.digests.subarray(i * 4, i * 4 + 4))) problems.push({ kind: 'changed', seq: link.seq, eventId: id, detail: `event ${id} differs from what stream ${where} recorded` });
  });
  if (problems.length > 0) return { problems, rows: present.length };
  if (JSON.stringify(rowsRecord(present, RECEIVED_AT).days) !== JSON.stringify(link.days)) {
    problems.push({ kind: 'link', seq: link.seq, detail: `stream ${where}'s record of its rows does not match them: the link record was altered` });
  }
  const dims = await dimensionRows(pool, present);
  if (!dimensionsHash(dims).equals(link.dims)) {
    problems.push({ kind: 'dimensions', seq: link.seq, detail: `stream ${where}: a user, token, object or string its events point to was altered (${[...dims].map(([t, m]) => `${t} ${m.size}`).join(', ')} rows)` });
  }
  return { problems, rows: present.length };
}

/** The dimension rows the rows point to, as stored now. */
async function dimensionRows(pool: pg.Pool, rows: ChainedRow[]): Promise<Map<DimensionTable, Map<number, readonly unknown[]>>> {
  const wanted = new Map<DimensionTable, Set<number>>();
  for (const [column, table] of Object.entries(DIMENSION_OF_COLUMN)) {
    const at = EVENT_ROW_COLUMNS.indexOf(column as (typeof EVENT_ROW_COLUMNS)[number]);
    for (const r of rows) {
      const id = r.values[at];
      if (id === null || id === undefined) continue;
      let s = wanted.get(table);
      if (!s) wanted.set(table, (s = new Set()));
      s.add(id as number);
    }
  }
  const out = new Map<DimensionTable, Map<number, readonly unknown[]>>();
  for (const [table, ids] of wanted) {
    const columns = DIMENSION_COLUMNS[table] as readonly string[];
    const r = await pool.query<Record<string, unknown>>(`SELECT id, ${columns.join(', ')} FROM ${table} WHERE id = ANY($1::bigint[])`, [[...ids]]);
    out.set(table, new Map(r.rows.map((x) => [Number(x.id), columns.map((c) => (c === 'principal_id' ? Number(x[c]) : x[c]))])));
  }
  return out;
}
