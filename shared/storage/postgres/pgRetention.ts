import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { before, dayName, dayStart, parseDayName, utcDay } from '../../calendar.js';
import { InputError, NotFoundError } from '../../errors.js';
import type { ArchiveRecord, RetentionRun, ArchiveCheck } from '../sqlite/archive/retention.js';
import { EVENT_ROW_COLUMNS, EVENT_ROW_TYPES } from './pgBatchStore.js';
import { decodeIds, dimensionRows, encodeIds, rowsRecord, type ChainedRow, type LinkDay } from './pgChain.js';
import { inTransaction } from './pgStore.js';

/**
 * Retention on PostgreSQL (PCI DSS 10.5.1): each day older than the hot window is written with
 * `COPY … TO` to a compressed file (its rows with their ids and bodies, as stored), with a
 * SHA-256 manifest naming the chain links that covered them; then its partition is detached
 * and dropped. Rows of the day that arrived later, in the default partition, go to a further
 * part. `restore` re-creates the partition and copies the rows back, ids and all, after
 * checking the file against its SHA-256 and the chain.
 */

/** One kubetrail at a time runs retention on a database. */
const RETENTION_LOCK = 0x6b74_0003;
const TEXT = new Set<string>(EVENT_ROW_COLUMNS.filter((_, i) => EVENT_ROW_TYPES[i] === 'text'));
const ARCHIVE_COLUMNS = ['id', ...EVENT_ROW_COLUMNS, 'request', 'response'];

export const partitionOf = (day: number) => `events_d${dayName(day).replaceAll('-', '')}`;

interface ArchiveRow {
  day: number;
  part: number;
  file: string;
  sha256: string;
  rows: string;
  event_ids: Buffer;
  links: string;
  archived_at: string;
  restored_at: string | null;
  expired_at: string | null;
  expired_by: string | null;
}

const iso = (micros: string | number | null) => (micros === null ? null : new Date(Number(micros) / 1000).toISOString());

function toRecord(r: ArchiveRow): ArchiveRecord & { part: number } {
  const ids = decodeIds(r.event_ids);
  return {
    day: dayName(r.day),
    part: r.part,
    file: r.file,
    sha256: r.sha256,
    rows: Number(r.rows),
    ids: ids.length ? [[ids[0]!, ids.at(-1)!]] : [],
    links: (JSON.parse(r.links) as [number, number, string, number, string, string][]).map(([, seq, hash, n, h]) => [seq, hash, n, h]),
    archivedAt: iso(r.archived_at)!,
    restoredAt: iso(r.restored_at),
    expiredAt: iso(r.expired_at),
    expiredBy: r.expired_by,
  };
}

export async function listPgArchives(pool: pg.Pool): Promise<(ArchiveRecord & { part: number })[]> {
  return (await pool.query<ArchiveRow>('SELECT * FROM archives ORDER BY day, part')).rows.map(toRecord);
}

/** Days out of the database (archived, not restored) within [since, until) microseconds. */
export async function pgArchivedDays(pool: pg.Pool, since?: number, until?: number): Promise<string[]> {
  const r = await pool.query<{ day: number }>('SELECT DISTINCT day FROM archives WHERE restored_at IS NULL AND day >= $1 AND day <= $2 ORDER BY day', [
    since === undefined ? -1e9 : utcDay(since),
    until === undefined ? 1e9 : utcDay(until - 1),
  ]);
  return r.rows.map((x) => dayName(x.day));
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function partitionExists(client: pg.Pool | pg.PoolClient, day: number): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_class WHERE relname = $1', [partitionOf(day)])).rowCount === 1;
}

/**
 * Moves one day's rows out of the database: its partition's, or, for a day without one, the
 * default partition's. Returns the archive written, or null when the day has no rows left.
 */
export async function archivePgDay(pool: pg.Pool, day: number, dir: string, nowMicros: number): Promise<(ArchiveRecord & { part: number }) | null> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const own = await partitionExists(pool, day);
  const source = own ? partitionOf(day) : 'events_default';
  const range = `received_at >= ${dayStart(day)} AND received_at < ${dayStart(day + 1)}`;
  const name = dayName(day);
  // One transaction from the first read to the partition's drop, the partition locked against
  // inserts: a late event of the day waits, then goes to the default partition (a later part),
  // instead of landing in a partition whose rows were already copied and being dropped with it.
  const part = await inTransaction(pool, async (c) => {
    if (own) await c.query(`LOCK TABLE ${source} IN SHARE ROW EXCLUSIVE MODE`);
    const ids = (await c.query<{ id: string }>(`SELECT id FROM ${source} WHERE ${range} ORDER BY id`)).rows.map((r) => Number(r.id));
    if (ids.length === 0) {
      if (own) await dropPartition(c, day);
      return null;
    }
    // The links that covered the day's rows, with what each recorded of the day.
    const linkRows = await c.query<{ stream_id: string; seq: string; link: Buffer; days: string; event_ids: Buffer }>(
      'SELECT stream_id, seq, link, days, event_ids FROM chain_links WHERE last_day >= $1 AND first_day <= $1 ORDER BY stream_id, seq',
      [day],
    );
    const wanted = new Set(ids);
    const links = linkRows.rows.flatMap((l) => {
      const d = (JSON.parse(l.days) as LinkDay[]).find(([x]) => x === day);
      // A link whose rows of the day are all archived already (an earlier part) is not this part's.
      return d && decodeIds(l.event_ids).some((id) => wanted.has(id)) ? [[Number(l.stream_id), Number(l.seq), l.link.toString('hex'), d[1], d[2], d[3]] as [number, number, string, number, string, string]] : [];
    });
    const part = Number((await c.query<{ n: string }>('SELECT coalesce(max(part), 0) + 1 AS n FROM archives WHERE day = $1', [day])).rows[0]!.n);
    const file = part === 1 ? `${name}.copy.gz` : `${name}.${part}.copy.gz`;
    const path = join(dir, file);
    const copy = c.query(
      copyStreams.to(`COPY (SELECT e.id, ${EVENT_ROW_COLUMNS.map((col) => `e.${col}`).join(', ')}, b.request, b.response FROM ${source} e LEFT JOIN bodies b ON b.event_id = e.id
        WHERE ${range.replaceAll('received_at', 'e.received_at')} ORDER BY e.id) TO STDOUT`),
    );
    await pipeline(copy, createGzip(), createWriteStream(path, { mode: 0o600 }));
    const sha256 = await sha256File(path);
    writeFileSync(
      join(dir, `${file.replace(/\.copy\.gz$/, '')}.manifest.json`),
      `${JSON.stringify({ day: name, part, file, format: `PostgreSQL COPY text, gzip; columns: ${ARCHIVE_COLUMNS.join(', ')}`, sha256, rows: ids.length, chain: { links }, archivedAt: iso(nowMicros) }, null, 2)}\n`,
      { mode: 0o600 },
    );
    await c.query('INSERT INTO archives (day, part, file, sha256, rows, event_ids, links, archived_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      day, part, file, sha256, ids.length, encodeIds(ids), JSON.stringify(links), nowMicros,
    ]);
    await c.query('DELETE FROM bodies WHERE event_id = ANY($1::bigint[])', [ids]);
    // The day's usage stays in the rollups; which of its requests were counted goes with its events.
    await c.query(`DELETE FROM usage_claims WHERE ${range}`);
    if (own) await dropPartition(c, day);
    else await c.query(`DELETE FROM events_default WHERE id = ANY($1::bigint[]) AND ${range}`, [ids]);
    return part;
  });
  return part === null ? null : toRecord((await pool.query<ArchiveRow>('SELECT * FROM archives WHERE day = $1 AND part = $2', [day, part])).rows[0]!);
}

async function dropPartition(c: pg.PoolClient, day: number): Promise<void> {
  await c.query(`ALTER TABLE events DETACH PARTITION ${partitionOf(day)}`);
  await c.query(`DROP TABLE ${partitionOf(day)}`);
}

/** A line of an archive: COPY's text format, back to values. */
function parseCopyLine(line: string): unknown[] {
  return line.split('\t').map((field, i) => {
    if (field === '\\N') return null;
    const text = field.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' })[c] ?? c);
    const column = ARCHIVE_COLUMNS[i]!;
    if (column === 'request' || column === 'response') return Buffer.from(text.slice(2), 'hex');
    return TEXT.has(column) ? text : Number(text);
  });
}

async function* archiveRows(path: string): AsyncGenerator<ChainedRow> {
  const rl = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    const v = parseCopyLine(line);
    const values = v.slice(1, 1 + EVENT_ROW_COLUMNS.length);
    const withBody = values[EVENT_ROW_COLUMNS.indexOf('has_body')] === 1;
    yield { id: v[0] as number, values, request: withBody ? (v.at(-2) as Buffer | null) : null, response: withBody ? (v.at(-1) as Buffer | null) : null };
  }
}

async function getArchives(pool: pg.Pool, day: number): Promise<ArchiveRow[]> {
  const rows = (await pool.query<ArchiveRow>('SELECT * FROM archives WHERE day = $1 ORDER BY part', [day])).rows;
  if (rows.length === 0) throw new NotFoundError(`${dayName(day)} is not archived (kubetrail archive list shows the archived days)`);
  return rows;
}

/** Checks a day's archives: each file against its SHA-256, its rows against the chain links that covered them. */
export async function verifyPgArchive(pool: pg.Pool, day: number, dir: string): Promise<ArchiveCheck> {
  const problems: string[] = [];
  let rows = 0;
  for (const a of await getArchives(pool, day)) {
    const path = join(dir, a.file);
    if (!existsSync(path)) {
      problems.push(`${path} is missing${a.expired_at ? ` (deleted on ${iso(a.expired_at)} by ${a.expired_by})` : ''}`);
      continue;
    }
    const sha = await sha256File(path);
    if (sha !== a.sha256) {
      problems.push(`${a.file}: SHA-256 ${sha} differs from the recorded ${a.sha256}: the file was altered`);
      continue;
    }
    const manifest = join(dir, `${a.file.replace(/\.copy\.gz$/, '')}.manifest.json`);
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { sha256: string }).sha256 !== a.sha256) problems.push(`${manifest} names another SHA-256 than the database records`);
    const recorded = JSON.parse(a.links) as [number, number, string, number, string, string][];
    const linkOf = new Map<number, string>();
    const byLink = new Map<string, ChainedRow[]>();
    for (const [stream, seq, hash] of recorded) {
      const l = (await pool.query<{ link: Buffer; event_ids: Buffer }>('SELECT link, event_ids FROM chain_links WHERE stream_id = $1 AND seq = $2', [stream, seq])).rows[0];
      const key = `${stream}/${seq}`;
      if (!l) problems.push(`chain link ${seq} of stream ${stream}, which the archive names, is missing from the database`);
      else if (l.link.toString('hex') !== hash) problems.push(`chain link ${seq} of stream ${stream} is not the one the archive was made against`);
      else for (const id of decodeIds(l.event_ids)) linkOf.set(id, key);
      byLink.set(key, []);
    }
    let n = 0;
    for await (const r of archiveRows(path)) {
      n++;
      const key = linkOf.get(r.id);
      if (key) byLink.get(key)!.push(r);
      else problems.push(`event ${r.id} of ${a.file} is in no chain link the archive names`);
    }
    rows += n;
    if (n !== Number(a.rows)) problems.push(`${a.file} holds ${n} rows, the database recorded ${a.rows}`);
    for (const [stream, seq, , count, rowsHash, dimsHash] of recorded) {
      const linkRows = byLink.get(`${stream}/${seq}`)!;
      const got = rowsRecord(linkRows, EVENT_ROW_COLUMNS, await dimensionRows(pool, linkRows, EVENT_ROW_COLUMNS)).days.find(([d]) => d === day);
      if (!got || got[1] !== count || got[2] !== rowsHash) problems.push(`the rows of stream ${stream} link ${seq} for ${dayName(day)} do not hash as the chain recorded`);
      else if (got[3] !== dimsHash) problems.push(`a user, token, object or string the rows of stream ${stream} link ${seq} point to was altered`);
    }
  }
  return { day: dayName(day), ok: problems.length === 0, rows, problems };
}

/**
 * Brings a day back: checks its archives, re-creates its partition (unless the default
 * partition holds rows of the day, which keeps them there) and copies the rows back with
 * their ids and bodies.
 */
export async function restorePgDay(pool: pg.Pool, day: number, dir: string, nowMicros: number): Promise<{ day: string; rows: number }> {
  const parts = await getArchives(pool, day);
  if (parts.some((a) => a.expired_at)) throw new InputError(`${dayName(day)} cannot be restored: its archive was deleted by ${parts.find((a) => a.expired_at)!.expired_by}`);
  if (parts.every((a) => a.restored_at)) throw new InputError(`${dayName(day)} is already restored (at ${iso(parts[0]!.restored_at)})`);
  const check = await verifyPgArchive(pool, day, dir);
  if (!check.ok) throw new InputError(`archive of ${check.day} fails its check, not restoring: ${check.problems.join('; ')}`);
  const range = `received_at >= ${dayStart(day)} AND received_at < ${dayStart(day + 1)}`;
  const inDefault = (await pool.query(`SELECT 1 FROM events_default WHERE ${range} LIMIT 1`)).rowCount === 1;
  if (!inDefault && !(await partitionExists(pool, day))) {
    await pool.query(`CREATE TABLE ${partitionOf(day)} PARTITION OF events FOR VALUES FROM (${dayStart(day)}) TO (${dayStart(day + 1)})`);
  }
  let rows = 0;
  await inTransaction(pool, async (c) => {
    for (const a of parts.filter((p) => !p.restored_at)) {
      const batch: ChainedRow[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const columns = EVENT_ROW_COLUMNS.map((_, i) => batch.map((r) => r.values[i]));
        await c.query(
          `INSERT INTO events (id, ${EVENT_ROW_COLUMNS.join(', ')}) OVERRIDING SYSTEM VALUE
           SELECT * FROM unnest($1::bigint[], ${EVENT_ROW_TYPES.map((t, i) => `$${i + 2}::${t}[]`).join(', ')}) ON CONFLICT DO NOTHING`,
          [batch.map((r) => r.id), ...columns],
        );
        const bodies = batch.filter((r) => r.request !== null || r.response !== null);
        if (bodies.length > 0) {
          await c.query('INSERT INTO bodies (event_id, received_at, request, response) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) ON CONFLICT DO NOTHING', [
            bodies.map((r) => r.id), bodies.map((r) => r.values[EVENT_ROW_COLUMNS.indexOf('received_at')]), bodies.map((r) => r.request), bodies.map((r) => r.response),
          ]);
        }
        rows += batch.length;
        batch.length = 0;
      };
      for await (const r of archiveRows(join(dir, a.file))) {
        batch.push(r);
        if (batch.length === 1000) await flush();
      }
      await flush();
      await c.query('UPDATE archives SET restored_at = $1 WHERE day = $2 AND part = $3', [nowMicros, day, a.part]);
    }
  });
  return { day: dayName(day), rows };
}

/** Deletes the archives of days older than `days` (retention.deleteArchivesAfterDays). Returns the days. */
async function expirePgArchives(pool: pg.Pool, dir: string, days: number, nowMicros: number): Promise<string[]> {
  const cutoff = utcDay(before(nowMicros / 1000, { days }));
  const by = `retention.deleteArchivesAfterDays: ${days}`;
  const old = (await pool.query<{ day: number; part: number; file: string }>('SELECT day, part, file FROM archives WHERE day < $1 AND expired_at IS NULL AND restored_at IS NULL', [cutoff])).rows;
  for (const a of old) {
    rmSync(join(dir, a.file), { force: true });
    await pool.query('UPDATE archives SET expired_at = $1, expired_by = $2 WHERE day = $3 AND part = $4', [nowMicros, by, a.day, a.part]);
  }
  return [...new Set(old.map((a) => dayName(a.day)))];
}

/**
 * The retention job on PostgreSQL: archives every day older than hotDays that has rows (its
 * partition's or the default partition's; a restored day after a week), then, only when
 * deleteArchivesAfterDays is given, deletes archives older than that. One kubetrail at a time:
 * another that finds the job running leaves it (null).
 */
export async function runPgRetention(pool: pg.Pool, r: { hotDays: number; dir: string; deleteArchivesAfterDays?: number }, nowMicros: number): Promise<RetentionRun | null> {
  const lock = await pool.connect();
  try {
    if (!(await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RETENTION_LOCK])).rows[0]!.ok) return null;
    try {
      const firstHot = utcDay(before(nowMicros / 1000, { days: r.hotDays }));
      const held = new Set((await pool.query<{ day: number }>('SELECT day FROM archives WHERE restored_at > $1', [before(nowMicros / 1000, { weeks: 1 })])).rows.map((x) => x.day));
      const partitions = (await pool.query<{ name: string }>("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")).rows
        .flatMap((x) => {
          const m = /^events_d(\d{4})(\d{2})(\d{2})$/.exec(x.name);
          const day = m ? parseDayName(`${m[1]}-${m[2]}-${m[3]}`) : null;
          return day === null ? [] : [day];
        });
      const inDefault = (await pool.query<{ day: string }>(`SELECT DISTINCT floor(received_at / 86400000000)::bigint AS day FROM events_default WHERE received_at < $1`, [dayStart(firstHot)])).rows.map((x) => Number(x.day));
      const days = [...new Set([...partitions.filter((d) => d < firstHot), ...inDefault])].filter((d) => !held.has(d)).sort((a, b) => a - b);
      const archived: RetentionRun['archived'] = [];
      for (const day of days) {
        const a = await archivePgDay(pool, day, r.dir, nowMicros);
        if (a) archived.push({ day: a.day, rows: a.rows, file: a.file });
      }
      const expired = r.deleteArchivesAfterDays === undefined ? [] : await expirePgArchives(pool, r.dir, r.deleteArchivesAfterDays, nowMicros);
      return { archived, expired, hotFrom: dayName(firstHot) };
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
    }
  } finally {
    lock.release();
  }
}
