import type pg from 'pg';
import type { ChainProblem, VerifyReport } from '../sqlite/chain/verifyChain.js';
import { GENESIS, dayOf, decodeIds, dimensionRows, linkHash, rowDigest, rowText, rowsRecord, type ChainedRow, type LinkDay, type PgLink } from './pgChain.js';
import { EVENT_ROW_COLUMNS, EVENT_ROW_TYPES } from './pgBatchStore.js';

const MAX_PROBLEMS = 100;
const DAY_MICROS = 86_400_000_000;
/** The events' bigint columns, which come back as text. */
const BIGINT = new Set<string>(EVENT_ROW_COLUMNS.filter((_, i) => EVENT_ROW_TYPES[i] === 'bigint'));
const HAS_BODY = EVENT_ROW_COLUMNS.indexOf('has_body');

interface LinkRow {
  stream_id: string;
  seq: string;
  committed_at: string;
  rows: number;
  event_ids: Buffer;
  digests: Buffer;
  days: string;
  link: Buffer;
}

function toLink(r: LinkRow): PgLink {
  return {
    streamId: Number(r.stream_id), seq: Number(r.seq), committedAt: Number(r.committed_at), rows: r.rows,
    eventIds: r.event_ids, digests: r.digests, days: JSON.parse(r.days) as LinkDay[], link: r.link,
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
  const archivedDays = new Set((await pool.query<{ day: number }>('SELECT day FROM archives WHERE restored_at IS NULL')).rows.map((r) => r.day));
  let archivedRows = 0;
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
        const { problems: found, rows: n, archivedRows: archived } = await checkLink(pool, link, ids, archivedDays);
        rows += n;
        archivedRows += archived;
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
    archivedRows,
    streams: heads,
  };
}

/**
 * The rows of one link against its record: each row's digest, and each day still in the store
 * against the day's hashes of its rows and of the dimension rows they point to. Rows of
 * archived days are not looked for (kubetrail archive verify checks them).
 */
async function checkLink(pool: pg.Pool, link: PgLink, ids: number[], archivedDays: Set<number>): Promise<{ problems: ChainProblem[]; rows: number; archivedRows: number }> {
  const problems: ChainProblem[] = [];
  const where = `${link.streamId} link ${link.seq}`;
  if (ids.length !== link.rows || link.digests.length !== link.rows * 4) {
    return { problems: [{ kind: 'link', seq: link.seq, detail: `stream ${where} records ${link.rows} rows but ${ids.length} ids and ${link.digests.length / 4} digests` }], rows: 0, archivedRows: 0 };
  }
  const inStore = link.days.filter(([day]) => !archivedDays.has(day));
  const archivedRows = link.rows - inStore.reduce((n, d) => n + d[1], 0);
  if (inStore.length === 0) return { problems, rows: 0, archivedRows };
  // Bounded by the link's days in the store, so that only their partitions are read.
  const from = inStore[0]![0] * DAY_MICROS;
  const to = (inStore.at(-1)![0] + 1) * DAY_MICROS;
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
    // A row whose day was archived is not the store's any more, even when it is still there.
    if (archivedDays.has(dayOf(r.received_at))) continue;
    const values = EVENT_ROW_COLUMNS.map((c) => (BIGINT.has(c) && r[c] !== null ? Number(r[c]) : r[c]));
    const b = values[HAS_BODY] === 1 ? bodies.get(id) : undefined;
    byId.set(id, { id, values, request: b?.request ?? null, response: b?.response ?? null });
  }
  const present: ChainedRow[] = [];
  const missing: number[] = [];
  ids.forEach((id, i) => {
    const row = byId.get(id);
    if (!row) {
      missing.push(id);
      return;
    }
    present.push(row);
    if (rowDigest(rowText(row)) !== link.digests.readUInt32BE(i * 4)) problems.push({ kind: 'changed', seq: link.seq, eventId: id, detail: `event ${id} differs from what stream ${where} recorded` });
  });
  if (archivedRows === 0) {
    for (const id of missing) problems.push({ kind: 'deleted', seq: link.seq, eventId: id, detail: `event ${id} of stream ${where} is missing` });
  } else if (missing.length !== archivedRows) {
    problems.push({ kind: 'deleted', seq: link.seq, eventId: missing[0]!, detail: `${missing.length - archivedRows} event(s) of stream ${where} are missing beyond its archived days, among ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}` });
  }
  if (problems.length > 0) return { problems, rows: present.length, archivedRows };
  const recomputed = new Map(rowsRecord(present, EVENT_ROW_COLUMNS, await dimensionRows(pool, present, EVENT_ROW_COLUMNS)).days.map((d) => [d[0], d]));
  for (const [day, n, rowsHash, dimsHash] of inStore) {
    const got = recomputed.get(day);
    if (!got || got[1] !== n || got[2] !== rowsHash) problems.push({ kind: 'link', seq: link.seq, detail: `stream ${where}'s record of its rows of day ${day} does not match them: the link record was altered` });
    else if (got[3] !== dimsHash) problems.push({ kind: 'dimensions', seq: link.seq, detail: `stream ${where}: a user, token, object or string its events of day ${day} point to was altered` });
  }
  return { problems, rows: present.length, archivedRows };
}
