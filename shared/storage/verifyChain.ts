import { createHash, type Hash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { EVENTS_IN_RANGE, GENESIS, canonicalRow, dayOfMicros, dimensionMarks, dimensionsHash, linkHash, rowDigest, type DimensionMarks, type Link } from './hashChain.js';
import { EVENT_COLUMNS } from './eventRows.js';

/**
 * `kubetrail verify`: recomputes the hash chain from the rows as they are now and names the
 * first row or link that was changed, deleted or inserted behind kubetrail's back.
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
  /** Where checking began (links before it are trusted as stored): null for the whole chain. */
  since: string | null;
  problems: ChainProblem[];
  /** Dimension rows written ahead of their events (interning commits first): not chained yet. */
  unchainedDimensionRows: number;
}

const RECEIVED_AT = 1 + EVENT_COLUMNS.indexOf('received_at');
const MAX_PROBLEMS = 100;
const NO_DIMS: DimensionMarks = { strings: 0, verbs: 0, principals: 0, api_resources: 0, objects: 0 };

function toLink(r: Record<string, unknown>): Link {
  return {
    seq: r.seq as number,
    committedAt: r.committed_at as number,
    firstEvent: r.first_event as number,
    lastEvent: r.last_event as number,
    dims: JSON.parse(r.dims as string) as DimensionMarks,
    days: JSON.parse(r.days as string) as [number, number, string][],
    rowDigests: r.row_digests as Buffer,
    link: r.link as Buffer,
  };
}

export function verifyChain(db: Database, options: { sinceMicros?: number } = {}): VerifyReport {
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const start =
    options.sinceMicros === undefined
      ? null
      : ((db.prepare('SELECT * FROM chain_links WHERE committed_at < ? ORDER BY seq DESC LIMIT 1').get(options.sinceMicros) as Record<string, unknown> | undefined) ?? null);
  const before = start ? toLink(start) : null;
  let prev = before?.link ?? GENESIS;
  let prevDims = before?.dims ?? NO_DIMS;
  let expectedSeq = (before?.seq ?? 0) + 1;
  let nextEvent = before ? before.lastEvent + 1 : 1;
  let links = 0;
  let rows = 0;
  let head: Link | null = before;
  const readRows = db.prepare(EVENTS_IN_RANGE).raw();

  for (const r of db.prepare('SELECT * FROM chain_links WHERE seq >= ? ORDER BY seq').iterate(expectedSeq)) {
    const link = toLink(r as Record<string, unknown>);
    links++;
    if (link.seq !== expectedSeq) report({ kind: 'link', seq: link.seq, detail: `links ${expectedSeq}..${link.seq - 1} are missing from the chain` });
    if (link.firstEvent !== nextEvent) report({ kind: 'link', seq: link.seq, detail: `link ${link.seq} starts at event ${link.firstEvent}, expected ${nextEvent}` });

    // Rows: each against its digest, each day against its hash.
    const days = new Map<number, { rows: number; hash: Hash }>();
    const seen = new Uint8Array(link.lastEvent - link.firstEvent + 1);
    for (const values of readRows.iterate(link.firstEvent, link.lastEvent) as IterableIterator<unknown[]>) {
      rows++;
      const id = values[0] as number;
      const text = canonicalRow(values);
      const at = id - link.firstEvent;
      seen[at] = 1;
      const stored = link.rowDigests.readUInt32BE(at * 4);
      if (stored === 0) report({ kind: 'inserted', seq: link.seq, eventId: id, detail: `event ${id} is where link ${link.seq} recorded no row` });
      else if (stored !== rowDigest(text)) report({ kind: 'changed', seq: link.seq, eventId: id, detail: `event ${id} differs from what link ${link.seq} recorded` });
      const day = dayOfMicros(values[RECEIVED_AT] as number);
      let d = days.get(day);
      if (!d) days.set(day, (d = { rows: 0, hash: createHash('sha256') }));
      d.rows++;
      d.hash.update(text).update('\n');
    }
    for (let at = 0; at < seen.length; at++) {
      if (!seen[at] && link.rowDigests.readUInt32BE(at * 4) !== 0) {
        report({ kind: 'deleted', seq: link.seq, eventId: link.firstEvent + at, detail: `event ${link.firstEvent + at} of link ${link.seq} is missing` });
      }
    }
    const recomputed = new Map([...days].map(([day, d]) => [day, [d.rows, d.hash.digest('hex')] as const]));
    const daysMatch = link.days.length === recomputed.size && link.days.every(([day, n, h]) => recomputed.get(day)?.[0] === n && recomputed.get(day)?.[1] === h);
    const rowProblems = problems.some((p) => p.seq === link.seq && 'eventId' in p);
    if (!daysMatch && !rowProblems) {
      report({ kind: 'link', seq: link.seq, detail: `link ${link.seq}'s record of its rows (events ${link.firstEvent}..${link.lastEvent}) does not match them: the link record was altered, or a row was changed` });
    }

    // The link itself: its hash over the previous one, its claims and the dimension rows it covers.
    const expected = linkHash(prev, link, dimensionsHash(db, prevDims, link.dims));
    if (!expected.equals(link.link) && daysMatch) {
      report({ kind: 'dimensions', seq: link.seq, detail: `link ${link.seq} does not hash as recorded: a dimension row it covers (users, objects, strings…) or the link record itself was altered` });
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
  const unchained = (Object.keys(marks) as (keyof DimensionMarks)[]).reduce((n, t) => n + Math.max(0, marks[t] - prevDims[t]), 0);

  return {
    ok: problems.length === 0,
    links,
    rows,
    head: head ? { seq: head.seq, hash: head.link.toString('hex'), committedAt: new Date(head.committedAt / 1000).toISOString() } : null,
    since: options.sinceMicros === undefined ? null : new Date(options.sinceMicros / 1000).toISOString(),
    problems,
    unchainedDimensionRows: unchained,
  };
}
