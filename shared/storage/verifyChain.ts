import type { Database } from 'better-sqlite3';
import { archivedIdRanges } from './retention.js';
import { GENESIS, RowEncoder, addStoredRow, dimensionMarks, dimensionsHash, linkHash, storedRows, toLink, NO_DIMENSIONS, type ChainedDimension, type Link } from './hashChain.js';

/**
 * `kubetrail verify`: recomputes the hash chain from the rows as they are now and names the
 * first event or link that was changed, deleted or inserted behind kubetrail's back.
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

const MAX_PROBLEMS = 100;

export function verifyChain(db: Database, options: { sinceMicros?: number } = {}): VerifyReport {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const startRow =
    options.sinceMicros === undefined ? undefined : (db.prepare('SELECT * FROM chain_links WHERE committed_at < ? ORDER BY seq DESC LIMIT 1').get(options.sinceMicros) as Record<string, unknown> | undefined);
  const start = startRow ? toLink(startRow) : null;
  let prev = start?.link ?? GENESIS;
  let prevDims = start?.dims ?? NO_DIMENSIONS;
  let expectedSeq = (start?.seq ?? 0) + 1;
  let nextEvent = start ? start.lastEvent + 1 : 1;
  let links = 0;
  let rows = 0;
  let head: Link | null = start;
  const readRows = storedRows(db);
  // Days moved to archives: their rows are checked against the chain by `archive verify`.
  const archived = archivedIdRanges(db);
  const isArchived = (id: number) => {
    let lo = 0;
    let hi = archived.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = archived.ranges[mid]!;
      if (id < a) hi = mid - 1;
      else if (id > b) lo = mid + 1;
      else return true;
    }
    return false;
  };
  let archivedRows = 0;

  for (const r of db.prepare('SELECT * FROM chain_links WHERE seq >= ? ORDER BY seq').iterate(expectedSeq)) {
    const link = toLink(r as Record<string, unknown>);
    links++;
    if (link.seq !== expectedSeq) report({ kind: 'link', seq: link.seq, detail: `links ${expectedSeq}..${link.seq - 1} are missing from the chain` });
    if (link.firstEvent !== nextEvent) report({ kind: 'link', seq: link.seq, detail: `link ${link.seq} starts at event ${link.firstEvent}, expected ${nextEvent}` });
    const problemsBefore = problems.length;

    // Rows: each against its digest, each day against its hash.
    const enc = new RowEncoder();
    for (const values of readRows.iterate(link.firstEvent, link.lastEvent) as IterableIterator<unknown[]>) addStoredRow(enc, values);
    rows += enc.length;
    const seen = new Uint8Array(Math.max(0, link.lastEvent - link.firstEvent + 1));
    enc.ids.forEach((id, i) => {
      const at = id - link.firstEvent;
      seen[at] = 1;
      const stored = link.rowDigests.readUInt32BE(at * 4);
      if (stored === 0) report({ kind: 'inserted', seq: link.seq, eventId: id, detail: `event ${id} is where link ${link.seq} recorded no row` });
      else if (stored !== enc.digests[i]) report({ kind: 'changed', seq: link.seq, eventId: id, detail: `event ${id} differs from what link ${link.seq} recorded` });
    });
    for (let at = 0; at < seen.length; at++) {
      if (seen[at] || link.rowDigests.readUInt32BE(at * 4) === 0) continue;
      if (archived.ranges.length > 0 && isArchived(link.firstEvent + at)) archivedRows++;
      else report({ kind: 'deleted', seq: link.seq, eventId: link.firstEvent + at, detail: `event ${link.firstEvent + at} of link ${link.seq} is missing` });
    }
    const recomputed = enc.dayHashes();
    const inStore = link.days.filter(([day]) => !archived.days.has(day));
    const daysMatch = inStore.length === [...recomputed.keys()].filter((d) => !archived.days.has(d)).length && inStore.every(([day, n, h]) => recomputed.get(day)?.rows === n && recomputed.get(day)?.hash === h);
    if (!daysMatch && problems.length === problemsBefore) {
      report({ kind: 'link', seq: link.seq, detail: `link ${link.seq}'s record of its rows (events ${link.firstEvent}..${link.lastEvent}) does not match them: the link record was altered, or a row was changed` });
    }
    // The link itself: its hash over the previous link, its claims and the dimension rows it covers.
    if (daysMatch && !linkHash(prev, link, dimensionsHash(db, prevDims, link.dims)).equals(link.link)) {
      const added = (Object.keys(link.dims) as ChainedDimension[]).filter((t) => link.dims[t] > prevDims[t]).map((t) => `${t} ${prevDims[t] + 1}..${link.dims[t]}`);
      report({ kind: 'dimensions', seq: link.seq, detail: `link ${link.seq} does not hash as recorded: a row it added to the users, objects or strings its events point to (${added.join(', ') || 'none'}) was altered, or the link record was` });
    }
    prev = link.link;
    prevDims = link.dims;
    expectedSeq = link.seq + 1;
    nextEvent = link.lastEvent + 1;
    head = link;
  }

  // Rows past the head were stored outside any transaction of kubetrail's writer.
  for (const values of readRows.iterate(nextEvent, Number.MAX_SAFE_INTEGER) as IterableIterator<unknown[]>) {
    rows++;
    report({ kind: 'inserted', seq: null, eventId: values[0] as number, detail: `event ${values[0] as number} is past the chain head: no link covers it` });
  }
  const marks = dimensionMarks(db);
  const unchained = (Object.keys(marks) as ChainedDimension[]).reduce((n, t) => n + Math.max(0, marks[t] - prevDims[t]), 0);

  return {
    ok: problems.length === 0,
    links,
    rows,
    head: head ? { seq: head.seq, hash: head.link.toString('hex'), committedAt: new Date(head.committedAt / 1000).toISOString() } : null,
    since: options.sinceMicros === undefined ? null : new Date(options.sinceMicros / 1000).toISOString(),
    problems,
    unchainedDimensionRows: unchained,
    archivedRows,
  };
}
