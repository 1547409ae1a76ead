import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import type { Database } from 'better-sqlite3';
import { before, dayName, dayStart, parseDayName, utcDay } from '../../../calendar.js';
import { InputError, NotFoundError } from '../../../errors.js';
import { EVENT_COLUMNS } from '../write/eventRows.js';
import { readEventsById } from '../queries/eventQuery.js';
import { RowEncoder, lastLink, toLink } from '../chain/hashChain.js';

/**
 * Retention (PCI DSS 10.5.1): the days older than the hot window leave the store for
 * compressed NDJSON archives, each with a SHA-256 manifest tied to the hash chain; the daily
 * rollups stay. A day can be restored, byte for byte, for an investigation.
 */

export { dayName };
/** Parses a day given as `YYYY-MM-DD` to its day number; InputError otherwise. */
export function parseDay(text: string): number {
  const day = parseDayName(text);
  if (day === null) throw new InputError(`expected a day as YYYY-MM-DD, got '${text}'`);
  return day;
}

export interface ArchiveRecord {
  day: string;
  file: string;
  sha256: string;
  rows: number;
  ids: [number, number][];
  /** [seq, link hash, the day's rows in the link, the day's hash in the link]. */
  links: [number, string, number, string][];
  archivedAt: string;
  restoredAt: string | null;
  expiredAt: string | null;
  /** The setting that deleted the archive, as `retention.deleteArchivesAfterDays: N`. */
  expiredBy: string | null;
}

interface ArchiveRow {
  day: number;
  file: string;
  sha256: string;
  rows: number;
  ids: string;
  links: string;
  archived_at: number;
  restored_at: number | null;
  expired_at: number | null;
  expired_by: string | null;
}

const iso = (micros: number | null) => (micros === null ? null : new Date(micros / 1000).toISOString());
function toRecord(r: ArchiveRow): ArchiveRecord {
  return {
    day: dayName(r.day),
    file: r.file,
    sha256: r.sha256,
    rows: r.rows,
    ids: JSON.parse(r.ids) as [number, number][],
    links: JSON.parse(r.links) as [number, string, number, string][],
    archivedAt: iso(r.archived_at)!,
    restoredAt: iso(r.restored_at),
    expiredAt: iso(r.expired_at),
    expiredBy: r.expired_by,
  };
}

export function listArchives(db: Database): ArchiveRecord[] {
  return (db.prepare('SELECT * FROM archives ORDER BY day').all() as ArchiveRow[]).map(toRecord);
}

function getArchive(db: Database, day: number): ArchiveRecord {
  const r = db.prepare('SELECT * FROM archives WHERE day = ?').get(day) as ArchiveRow | undefined;
  if (!r) throw new NotFoundError(`${dayName(day)} is not archived (kubetrail archive list shows the archived days)`);
  return toRecord(r);
}

/** A store opened read-only before migration 0013 has no archives table: nothing is archived there. */
const hasArchives = (db: Database) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archives'").get() !== undefined;

/** Days out of the store (archived, not restored), within [since, until) microseconds when given: queries over them say so. */
export function archivedDays(db: Database, since?: number, until?: number): string[] {
  if (!hasArchives(db)) return [];
  return (
    db.prepare('SELECT day FROM archives WHERE restored_at IS NULL AND day >= ? AND day <= ? ORDER BY day').pluck().all(
      since === undefined ? -1e9 : utcDay(since),
      until === undefined ? 1e9 : utcDay(until - 1),
    ) as number[]
  ).map(dayName);
}

/** Event id ranges that left the store for archives (not restored): verify counts them as archived, not deleted. */
export function archivedIdRanges(db: Database): { ranges: [number, number][]; days: Set<number> } {
  if (!hasArchives(db)) return { ranges: [], days: new Set() };
  const rows = db.prepare('SELECT day, ids FROM archives WHERE restored_at IS NULL').all() as { day: number; ids: string }[];
  return { ranges: rows.flatMap((r) => JSON.parse(r.ids) as [number, number][]).sort((a, b) => a[0] - b[0]), days: new Set(rows.map((r) => r.day)) };
}

/** Days with stored events whose request time is before `cutoff` (microseconds), oldest first. */
export function daysBefore(db: Database, cutoff: number): number[] {
  const days: number[] = [];
  const next = db.prepare('SELECT received_at FROM events WHERE received_at >= ? AND received_at < ? ORDER BY received_at LIMIT 1').pluck();
  let from = -Infinity;
  for (;;) {
    const t = next.get(from === -Infinity ? -(2 ** 52) : from, cutoff) as number | undefined;
    if (t === undefined) return days;
    const day = utcDay(t);
    days.push(day);
    from = dayStart(day + 1);
  }
}

const IDS_OF_DAY = 'SELECT id FROM events WHERE received_at >= ? AND received_at < ? ORDER BY id';
/** Rows of a day by id, a chunk at a time, so that a busy day is never all in memory. */
const ROWS_BY_ID = (n: number) => `SELECT e.id, ${EVENT_COLUMNS.map((c) => `e.${c}`).join(', ')}, b.request, b.response
  FROM events e LEFT JOIN bodies b ON b.event_id = e.id WHERE e.id IN (${Array(n).fill('?').join(',')}) ORDER BY e.id`;
const CHUNK = 1000;

const b64 = (v: unknown) => (v === null || v === undefined ? null : Buffer.from(v as Uint8Array).toString('base64'));

function ranges(ids: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const id of ids) {
    const last = out.at(-1);
    if (last && last[1] === id - 1) last[1] = id;
    else out.push([id, id]);
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Moves one day out of the store: writes `YYYY-MM-DD.ndjson.gz` (per line the stored row, its
 * bodies and the event as the query API shows it) and its manifest, records the archive, then
 * deletes the day's raw rows in chunks. The day must be chained already.
 */
export async function archiveDay(db: Database, day: number, dir: string, nowMicros: number): Promise<ArchiveRecord> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ids = db.prepare(IDS_OF_DAY).pluck().all(dayStart(day), dayStart(day + 1)) as number[];
  const row = db.prepare('SELECT * FROM archives WHERE day = ?').get(day) as ArchiveRow | undefined;
  const existing = row && toRecord(row);
  if (ids.length === 0 && existing) return existing;
  const head = lastLink(db);
  if (ids.length > 0 && (!head || ids.at(-1)! > head.lastEvent)) throw new InputError(`the rows of ${dayName(day)} are not all chained yet; run again after the next write`);
  // Rows of a day already archived (late events, a backfill) join its archive: the file is
  // rewritten with the archived rows and these, never replaced by these alone.
  const joining = existing && existing.restoredAt === null ? existing : null;
  if (joining?.expiredAt) throw new InputError(`${dayName(day)} has ${ids.length} new event(s), but its archive was ${deletedBy(joining)}: they stay in the store`);
  if (joining) {
    const check = await verifyArchive(db, day, dir);
    if (!check.ok) throw new InputError(`${dayName(day)} has ${ids.length} new event(s), but its archive fails its check, so they are not added to it: ${check.problems.join('; ')}`);
  }
  const links = [
    ...(joining?.links ?? []),
    ...(db.prepare('SELECT * FROM chain_links WHERE last_event >= ? AND first_event <= ? ORDER BY seq').all(ids[0] ?? 0, ids.at(-1) ?? -1) as Record<string, unknown>[])
      .map(toLink)
      .flatMap((l): [number, string, number, string][] => l.days.filter(([d]) => d === day).map(([, n, h]) => [l.seq, l.link.toString('hex'), n, h])),
  ];

  const name = dayName(day);
  const file = `${name}.ndjson.gz`;
  const path = join(dir, file);
  async function* lines(): AsyncGenerator<string> {
    if (joining) {
      const rl = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
      for await (const line of rl) if (line) yield `${line}\n`;
    }
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunkIds = ids.slice(i, i + CHUNK);
      const chunk = db.prepare(ROWS_BY_ID(chunkIds.length)).raw().all(...chunkIds) as unknown[][];
      const events = readEventsById(db, chunkIds);
      for (const r of chunk) {
        const row = r.slice(1, 1 + EVENT_COLUMNS.length).map((v) => (v instanceof Uint8Array ? { base64: b64(v) } : v));
        const stored = events.get(r[0] as number);
        yield `${JSON.stringify({ id: r[0], cluster: stored?.cluster, row, request: b64(r[1 + EVENT_COLUMNS.length]), response: b64(r[2 + EVENT_COLUMNS.length]), event: stored?.event })}\n`;
      }
    }
  }
  // Written beside and renamed over: the archive on disk is whole at every moment.
  const partial = `${path}.partial`;
  await pipeline(Readable.from(lines()), createGzip(), createWriteStream(partial, { mode: 0o600 }));
  renameSync(partial, path);
  const sha256 = await sha256File(path);
  const rows = (joining?.rows ?? 0) + ids.length;
  const idRanges = mergeRanges([...(joining?.ids ?? []), ...ranges(ids)]);
  writeFileSync(
    join(dir, `${name}.manifest.json`),
    `${JSON.stringify({ day: name, file, sha256, rows, ids: idRanges, chain: { links, headAtArchive: head && { seq: head.seq, hash: head.link.toString('hex') } }, archivedAt: iso(nowMicros) }, null, 2)}\n`,
    { mode: 0o600 },
  );
  db.prepare('INSERT OR REPLACE INTO archives (day, file, sha256, rows, ids, links, archived_at, restored_at, expired_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)').run(
    day, file, sha256, rows, JSON.stringify(idRanges), JSON.stringify(links), nowMicros,
  );
  // In chunks, so that ingest is not held for long; a day cut short is finished by the next run.
  const del = db.transaction((chunk: number[]) => {
    const sql = chunk.map(() => '?').join(',');
    db.prepare(`DELETE FROM bodies WHERE event_id IN (${sql})`).run(...chunk);
    db.prepare(`DELETE FROM issued_credentials WHERE event_id IN (${sql})`).run(...chunk);
    db.prepare(`DELETE FROM events WHERE id IN (${sql})`).run(...chunk);
  });
  for (let i = 0; i < ids.length; i += 500) del(ids.slice(i, i + 500));
  return getArchive(db, day);
}

/** Id ranges sorted, adjacent and overlapping ones joined. */
function mergeRanges(rs: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...rs].sort((x, y) => x[0] - y[0])) {
    const last = out.at(-1);
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

async function* archiveLines(path: string): AsyncGenerator<{ id: number; row: unknown[]; request: Buffer | null; response: Buffer | null }> {
  const rl = createInterface({ input: createReadStream(path).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    const j = JSON.parse(line) as { id: number; row: unknown[]; request: string | null; response: string | null };
    yield {
      id: j.id,
      // An archive written before a column joined the events table has no value for it: null, as the store has.
      row: EVENT_COLUMNS.map((_, c) => j.row[c] ?? null).map((v) => (v !== null && typeof v === 'object' ? Buffer.from((v as { base64: string }).base64, 'base64') : v)),
      request: j.request === null ? null : Buffer.from(j.request, 'base64'),
      response: j.response === null ? null : Buffer.from(j.response, 'base64'),
    };
  }
}

export interface ArchiveCheck {
  day: string;
  ok: boolean;
  rows: number;
  problems: string[];
}

/** Checks an archive: its file against the SHA-256 recorded, its rows against the day hashes of the chain links that covered them. */
export async function verifyArchive(db: Database, day: number, dir: string): Promise<ArchiveCheck> {
  const a = getArchive(db, day);
  const problems: string[] = [];
  const path = join(dir, a.file);
  if (!existsSync(path)) return { day: a.day, ok: false, rows: 0, problems: [`${path} is missing${a.expiredAt ? ` (${deletedBy(a)})` : ''}`] };
  const sha = await sha256File(path);
  if (sha !== a.sha256) problems.push(`${a.file}: SHA-256 ${sha} differs from the recorded ${a.sha256}: the file was altered`);
  const manifest = join(dir, `${a.day}.manifest.json`);
  if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { sha256: string }).sha256 !== a.sha256) problems.push(`${a.day}.manifest.json names another SHA-256 than the store records`);
  const links = db.prepare('SELECT * FROM chain_links WHERE seq = ?');
  const encoders = new Map<number, RowEncoder>();
  const chainLinks = a.links.flatMap(([seq]) => {
    const r = links.get(seq) as Record<string, unknown> | undefined;
    return r ? [toLink(r)] : [];
  });
  let rows = 0;
  const unlinked: number[] = [];
  for await (const r of archiveLines(path)) {
    rows++;
    const link = chainLinks.find((l) => r.id >= l.firstEvent && r.id <= l.lastEvent);
    if (!link) {
      unlinked.push(r.id);
      continue;
    }
    const enc = encoders.get(link.seq) ?? encoders.set(link.seq, new RowEncoder()).get(link.seq)!;
    enc.add(r.id, r.row, r.request, r.response);
  }
  if (unlinked.length) problems.push(`${unlinked.length} event(s) of the archive, from ${unlinked[0]}, are in no chain link of the store that it names`);
  if (rows !== a.rows) problems.push(`the archive holds ${rows} rows, the store recorded ${a.rows}`);
  for (const [seq, hash, n, h] of a.links) {
    const link = chainLinks.find((l) => l.seq === seq);
    if (!link) {
      problems.push(`chain link ${seq}, which the archive names, is missing from the store`);
      continue;
    }
    if (link.link.toString('hex') !== hash) {
      problems.push(`chain link ${seq} is not the one the archive was made against`);
      continue;
    }
    const got = encoders.get(seq)?.dayHashes().get(day);
    const inLink = link.days.find(([d]) => d === day);
    if (!inLink || inLink[1] !== n || inLink[2] !== h || got?.rows !== n || got.hash !== h) problems.push(`the rows of link ${seq} for ${a.day} do not hash as the chain recorded`);
  }
  return { day: a.day, ok: problems.length === 0, rows, problems };
}

const deletedBy = (a: ArchiveRecord) => `deleted on ${a.expiredAt} by ${a.expiredBy ?? 'retention.days (a kubetrail before deleteArchivesAfterDays)'}`;

/** Brings an archived day back into the store, row for row with its ids, after checking the archive. */
export async function restoreDay(db: Database, day: number, dir: string, nowMicros: number): Promise<{ day: string; rows: number }> {
  const archived = getArchive(db, day);
  if (archived.expiredAt) throw new InputError(`${archived.day} cannot be restored: its archive was ${deletedBy(archived)}; its daily rollups are still in the store`);
  const check = await verifyArchive(db, day, dir);
  if (!check.ok) throw new InputError(`archive of ${check.day} fails its check, not restoring: ${check.problems.join('; ')}`);
  const a = getArchive(db, day);
  if (a.restoredAt) throw new InputError(`${a.day} is already restored (at ${a.restoredAt})`);
  const insert = db.prepare(`INSERT OR IGNORE INTO events (id, ${EVENT_COLUMNS.join(', ')}) VALUES (?, ${EVENT_COLUMNS.map(() => '?').join(', ')})`);
  const body = db.prepare('INSERT OR IGNORE INTO bodies (event_id, request, response) VALUES (?, ?, ?)');
  let batch: { id: number; row: unknown[]; request: Buffer | null; response: Buffer | null }[] = [];
  const flush = db.transaction((rows: typeof batch) => {
    for (const r of rows) {
      insert.run(r.id, ...r.row);
      if (r.request !== null || r.response !== null) body.run(r.id, r.request, r.response);
    }
  });
  let rows = 0;
  for await (const r of archiveLines(join(dir, a.file))) {
    batch.push(r);
    rows++;
    if (batch.length === 1000) {
      flush(batch);
      batch = [];
    }
  }
  flush(batch);
  db.prepare('UPDATE archives SET restored_at = ? WHERE day = ?').run(nowMicros, day);
  return { day: a.day, rows };
}

/** Deletes the archives of days older than `days` (retention.deleteArchivesAfterDays); their rollups stay. Returns the days. */
export function expireArchives(db: Database, dir: string, days: number, nowMicros: number): string[] {
  const cutoff = utcDay(before(nowMicros / 1000, { days }));
  const by = `retention.deleteArchivesAfterDays: ${days}`;
  const old = db.prepare('SELECT day, file FROM archives WHERE day < ? AND expired_at IS NULL AND restored_at IS NULL').all(cutoff) as { day: number; file: string }[];
  for (const a of old) {
    rmSync(join(dir, a.file), { force: true });
    db.prepare('UPDATE archives SET expired_at = ?, expired_by = ? WHERE day = ?').run(nowMicros, by, a.day);
  }
  return old.map((a) => dayName(a.day));
}

export interface RetentionRun {
  archived: { day: string; rows: number; file: string }[];
  expired: string[];
  hotFrom: string;
}

/**
 * The retention job: archives every day older than hotDays (a restored day after a week), then,
 * only when deleteArchivesAfterDays is given, deletes archives older than that.
 */
export async function runRetention(db: Database, r: { hotDays: number; dir: string; deleteArchivesAfterDays?: number }, nowMicros: number): Promise<RetentionRun> {
  const firstHot = utcDay(before(nowMicros / 1000, { days: r.hotDays }));
  const archived: RetentionRun['archived'] = [];
  // A day restored for an investigation stays a week before it is archived again.
  const held = new Set(db.prepare('SELECT day FROM archives WHERE restored_at > ?').pluck().all(before(nowMicros / 1000, { weeks: 1 })) as number[]);
  // A day whose archive was deleted keeps what arrives for it later in the store (archiveDay).
  for (const day of db.prepare('SELECT day FROM archives WHERE expired_at IS NOT NULL AND restored_at IS NULL').pluck().all() as number[]) held.add(day);
  for (const day of daysBefore(db, dayStart(firstHot))) {
    if (held.has(day)) continue;
    const a = await archiveDay(db, day, r.dir, nowMicros);
    archived.push({ day: a.day, rows: a.rows, file: a.file });
  }
  const expired = r.deleteArchivesAfterDays === undefined ? [] : expireArchives(db, r.dir, r.deleteArchivesAfterDays, nowMicros);
  return { archived, expired, hotFrom: dayName(firstHot) };
}
