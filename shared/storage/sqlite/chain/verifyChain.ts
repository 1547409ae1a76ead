import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Database, Statement } from 'better-sqlite3';
import { DimensionRows, markOf, GENESIS, RowEncoder, addStoredRow, linkHash, storedRows, toLink, NO_DIMENSIONS, type ChainedDimension, type Link } from './hashChain.js';
import { archivedIdRanges } from '../archive/retention.js';

/**
 * `kubetrail verify`: recomputes the hash chain from the rows as they are now and names the
 * first event or link that was changed, deleted or inserted behind kubetrail's back. The rows
 * of each link are checked apart (in worker threads for a large store); the links are then
 * walked in order, each against the previous one.
 */

export type ChainProblem =
  | { kind: 'changed' | 'deleted' | 'inserted'; seq: number | null; eventId: number; detail: string }
  | { kind: 'link' | 'dimensions'; seq: number; detail: string };

export interface VerifyReport {
  ok: boolean;
  /** Links and event rows checked. */
  links: number;
  rows: number;
  /** The chain head as stored: record it elsewhere to detect a rewritten chain. */
  head: { seq: number; hash: string; committedAt: string } | null;
  /** Where checking began (links before it are taken as stored): null for the whole chain. */
  since: string | null;
  problems: ChainProblem[];
  /** Dimension rows written ahead of their events (interning commits first): not chained yet. */
  unchainedDimensionRows: number;
  /** Rows of archived days (kubetrail archive verify checks them against the chain). */
  archivedRows: number;
}

/** What the rows of one link showed. */
export interface LinkCheck {
  seq: number;
  rows: number;
  archivedRows: number;
  /** The day hashes of the days still in the store match the link's record. */
  daysMatch: boolean;
  problems: ChainProblem[];
}

const MAX_PROBLEMS = 100;

/** Event id ranges of archived days, sorted: a missing row in one is archived, not deleted. */
export type ArchivedRanges = { ranges: [number, number][]; days: number[] };

function inRanges(ranges: [number, number][], id: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = ranges[mid]!;
    if (id < a) hi = mid - 1;
    else if (id > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Checks the rows of one link: each against its digest, each day in the store against its hash. */
export function checkLinkRows(readRows: Statement, link: Link, archived: ArchivedRanges): LinkCheck {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const enc = new RowEncoder();
  for (const values of readRows.iterate(link.firstEvent, link.lastEvent) as IterableIterator<unknown[]>) addStoredRow(enc, values);
  const seen = new Uint8Array(Math.max(0, link.lastEvent - link.firstEvent + 1));
  for (let i = 0; i < enc.length; i++) {
    const id = enc.id(i);
    const at = id - link.firstEvent;
    seen[at] = 1;
    const stored = link.rowDigests.readUInt32BE(at * 4);
    if (stored === 0) report({ kind: 'inserted', seq: link.seq, eventId: id, detail: `event ${id} is where link ${link.seq} recorded no row` });
    else if (stored !== enc.digest(i)) report({ kind: 'changed', seq: link.seq, eventId: id, detail: `event ${id} differs from what link ${link.seq} recorded` });
  }
  let archivedRows = 0;
  for (let at = 0; at < seen.length; at++) {
    if (seen[at] || link.rowDigests.readUInt32BE(at * 4) === 0) continue;
    if (inRanges(archived.ranges, link.firstEvent + at)) archivedRows++;
    else report({ kind: 'deleted', seq: link.seq, eventId: link.firstEvent + at, detail: `event ${link.firstEvent + at} of link ${link.seq} is missing` });
  }
  const archivedDays = new Set(archived.days);
  const recomputed = enc.dayHashes();
  const inStore = link.days.filter(([day]) => !archivedDays.has(day));
  const daysMatch = inStore.length === [...recomputed.keys()].filter((d) => !archivedDays.has(d)).length && inStore.every(([day, n, h]) => recomputed.get(day)?.rows === n && recomputed.get(day)?.hash === h);
  return { seq: link.seq, rows: enc.length, archivedRows, daysMatch, problems };
}

/** The links to check: all, or those committed since a time (the one before is taken as stored). */
function linksFrom(db: Database, sinceMicros?: number): { start: Link | null; links: Link[] } {
  const startRow = sinceMicros === undefined ? undefined : (db.prepare('SELECT * FROM chain_links WHERE committed_at < ? ORDER BY seq DESC LIMIT 1').get(sinceMicros) as Record<string, unknown> | undefined);
  const start = startRow ? toLink(startRow) : null;
  const links = (db.prepare('SELECT * FROM chain_links WHERE seq > ? ORDER BY seq').all(start?.seq ?? 0) as Record<string, unknown>[]).map(toLink);
  return { start, links };
}

function archivedOf(db: Database): ArchivedRanges {
  const a = archivedIdRanges(db);
  return { ranges: a.ranges, days: [...a.days] };
}

/** Walks the links in order with their row checks: continuity, link hashes, rows past the head. */
function walk(db: Database, start: Link | null, links: Link[], checks: Map<number, LinkCheck>, sinceMicros: number | undefined): VerifyReport {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const dims = new DimensionRows(db);
  let prev = start?.link ?? GENESIS;
  let prevDims = start?.dims ?? NO_DIMENSIONS;
  let expectedSeq = (start?.seq ?? 0) + 1;
  let nextEvent = start ? start.lastEvent + 1 : 1;
  let rows = 0;
  let archivedRows = 0;
  for (const link of links) {
    const check = checks.get(link.seq)!;
    if (link.seq !== expectedSeq) report({ kind: 'link', seq: link.seq, detail: `links ${expectedSeq}..${link.seq - 1} are missing from the chain` });
    if (link.firstEvent !== nextEvent) report({ kind: 'link', seq: link.seq, detail: `link ${link.seq} starts at event ${link.firstEvent}, expected ${nextEvent}` });
    rows += check.rows;
    archivedRows += check.archivedRows;
    check.problems.forEach(report);
    if (!check.daysMatch && check.problems.length === 0) {
      report({ kind: 'link', seq: link.seq, detail: `link ${link.seq}'s record of its rows (events ${link.firstEvent}..${link.lastEvent}) does not match them: the link record was altered, or a row was changed` });
    }
    // The link itself: its hash over the previous link, its claims and the dimension rows it covers.
    if (check.daysMatch && !linkHash(prev, link, dims.hash(prevDims, link.dims)).equals(link.link)) {
      const added = (Object.keys(link.dims) as ChainedDimension[]).filter((t) => link.dims[t] > markOf(prevDims, t)).map((t) => `${t} ${markOf(prevDims, t) + 1}..${link.dims[t]}`);
      report({ kind: 'dimensions', seq: link.seq, detail: `link ${link.seq} does not hash as recorded: a row it added to the users, objects or strings its events point to (${added.join(', ') || 'none'}) was altered, or the link record was` });
    }
    prev = link.link;
    prevDims = link.dims;
    expectedSeq = link.seq + 1;
    nextEvent = link.lastEvent + 1;
  }
  // Rows past the head were stored outside any transaction of kubetrail's writer.
  for (const values of storedRows(db).iterate(nextEvent, Number.MAX_SAFE_INTEGER) as IterableIterator<unknown[]>) {
    rows++;
    report({ kind: 'inserted', seq: null, eventId: values[0] as number, detail: `event ${values[0] as number} is past the chain head: no link covers it` });
  }
  const marks = dims.marks();
  const head = links.at(-1) ?? start;
  return {
    ok: problems.length === 0,
    links: links.length,
    rows,
    head: head ? { seq: head.seq, hash: head.link.toString('hex'), committedAt: new Date(head.committedAt / 1000).toISOString() } : null,
    since: sinceMicros === undefined ? null : new Date(sinceMicros / 1000).toISOString(),
    problems,
    unchainedDimensionRows: (Object.keys(marks) as ChainedDimension[]).reduce((n, t) => n + Math.max(0, marks[t] - markOf(prevDims, t)), 0),
    archivedRows,
  };
}

/** Verifies on this thread. */
/** Whether the store has a hash chain (stores made before kubetrail chained them have none until upgraded). */
export function hasChain(db: Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chain_links'").get() !== undefined;
}

export function verifyChain(db: Database, options: { sinceMicros?: number } = {}): VerifyReport {
  const { start, links } = linksFrom(db, options.sinceMicros);
  const archived = archivedOf(db);
  const readRows = storedRows(db);
  const checks = new Map(links.map((l) => [l.seq, checkLinkRows(readRows, l, archived)]));
  return walk(db, start, links, checks, options.sinceMicros);
}

/**
 * Verifies with the rows of the links split among worker threads, each reading the store on a
 * connection of its own (one per core, by default): the rows are most of the work. Each
 * worker reads in its own snapshot; a retention run at the same moment can make rows it
 * archived look deleted: verify again after it.
 */
export async function verifyChainParallel(db: Database, path: string, options: { sinceMicros?: number; workers?: number } = {}): Promise<VerifyReport> {
  const { start, links } = linksFrom(db, options.sinceMicros);
  const archived = archivedOf(db);
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), links.length));
  if (workers === 1) return verifyChain(db, options);
  // Contiguous shares of about equal rows.
  const total = links.reduce((n, l) => n + (l.lastEvent - l.firstEvent + 1), 0);
  const shares: number[][] = [[]];
  let acc = 0;
  for (const l of links) {
    if (acc >= (total / workers) * shares.length && shares.length < workers) shares.push([]);
    shares.at(-1)!.push(l.seq);
    acc += l.lastEvent - l.firstEvent + 1;
  }
  const results = await Promise.all(
    shares.filter((s) => s.length > 0).map(
      (seqs) =>
        new Promise<LinkCheck[]>((resolve, reject) => {
          const w = new Worker(new URL('./verifyWorker.js', import.meta.url), { workerData: { path, from: seqs[0], to: seqs.at(-1), archived } });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`a verify worker exited with ${code}`)));
        }),
    ),
  );
  const checks = new Map(results.flat().map((c) => [c.seq, c]));
  return walk(db, start, links, checks, options.sinceMicros);
}
