import { createHash } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { EVENT_COLUMNS } from './eventRows.js';

/**
 * The store's hash chain (PCI DSS 10.3.4; migration 0010). Each transaction that stores events
 * appends a link over the rows it added and the previous link; `verifyChain` recomputes it from
 * the rows as they are now. The canonical text of a row is the JSON of its stored values
 * (blobs as [base64]), so the writer hashes the values it binds and a verifier the values it
 * reads, and both get the same text.
 */

/** Dimension tables an event's meaning depends on, with the columns hashed (id first). */
export const CHAINED_DIMENSIONS = {
  strings: ['id', 'value'],
  verbs: ['id', 'verb'],
  principals: ['id', 'username', 'json'],
  api_resources: ['id', 'api_group', 'api_version', 'resource', 'subresource', 'present'],
  objects: ['id', 'api_group', 'resource', 'namespace', 'name', 'uid'],
} as const;
export type ChainedDimension = keyof typeof CHAINED_DIMENSIONS;
export type DimensionMarks = Record<ChainedDimension, number>;

const DAY_MICROS = 86_400_000_000;
const RECEIVED_AT = EVENT_COLUMNS.indexOf('received_at');
export const dayOfMicros = (micros: number) => Math.floor(micros / DAY_MICROS);

/** An event row as stored: its id, its columns in EVENT_COLUMNS order, then its bodies. */
export function canonicalRow(values: readonly unknown[]): string {
  return JSON.stringify(values, (_k, v: unknown) => (v instanceof Uint8Array ? [Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')] : v));
}

/** FNV-1a, 32 bits, over UTF-16 code units: a cheap per-row digest to find which row differs (the chain's SHA-256 is the proof). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface Link {
  seq: number;
  committedAt: number;
  firstEvent: number;
  lastEvent: number;
  dims: DimensionMarks;
  /** [day, rows, sha256 hex] in day order. */
  days: [number, number, string][];
  rowDigests: Buffer;
  link: Buffer;
}

export const GENESIS = Buffer.alloc(32);

/** The hash of a link: the previous one, then everything this one claims. */
export function linkHash(prev: Buffer, l: Omit<Link, 'link' | 'rowDigests'>, dimsHash: string): Buffer {
  return createHash('sha256')
    .update(prev)
    .update(JSON.stringify([l.seq, l.committedAt, l.firstEvent, l.lastEvent, l.dims, dimsHash, l.days]))
    .digest();
}

const EVENT_SELECT = `SELECT e.id, ${EVENT_COLUMNS.map((c) => `e.${c}`).join(', ')}, b.request, b.response
  FROM events e LEFT JOIN bodies b ON b.event_id = e.id WHERE e.id BETWEEN ? AND ? ORDER BY e.id`;

/** SHA-256 of the dimension rows with ids in (from, to] of each table, in table then id order. */
export function dimensionsHash(db: Database, from: DimensionMarks, to: DimensionMarks): string {
  const h = createHash('sha256');
  for (const [table, columns] of Object.entries(CHAINED_DIMENSIONS) as [ChainedDimension, readonly string[]][]) {
    if (to[table] <= from[table]) continue;
    const rows = db.prepare(`SELECT ${columns.join(', ')} FROM ${table} WHERE id > ? AND id <= ? ORDER BY id`).raw().iterate(from[table], to[table]);
    h.update(`${table}\n`);
    for (const r of rows) h.update(canonicalRow(r as unknown[])).update('\n');
  }
  return h.digest('hex');
}

export function dimensionMarks(db: Database): DimensionMarks {
  const marks = {} as DimensionMarks;
  for (const table of Object.keys(CHAINED_DIMENSIONS) as ChainedDimension[]) {
    marks[table] = (db.prepare(`SELECT coalesce(max(id), 0) FROM ${table}`).pluck().get() as number) ?? 0;
  }
  return marks;
}

const NO_DIMS: DimensionMarks = { strings: 0, verbs: 0, principals: 0, api_resources: 0, objects: 0 };

function rowToLink(r: Record<string, unknown>): Link {
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

export function lastLink(db: Database): Link | null {
  const r = db.prepare('SELECT * FROM chain_links ORDER BY seq DESC LIMIT 1').get() as Record<string, unknown> | undefined;
  return r ? rowToLink(r) : null;
}

/** Accumulates the rows a transaction adds and appends the link when it is about to commit. */
export class ChainAppender {
  private rows: { id: number; day: number; text: string }[] = [];

  constructor(private readonly db: Database, private readonly now: () => number = () => Date.now() * 1000) {}

  /** One event the transaction inserted (ids come in increasing order). */
  add(id: number, row: readonly unknown[], request: Uint8Array | null, response: Uint8Array | null): void {
    this.rows.push({ id, day: dayOfMicros(row[RECEIVED_AT] as number), text: canonicalRow([id, ...row, request, response]) });
  }

  /**
   * Appends the link, inside the transaction that stored the rows. Rows the chain does not
   * cover yet that this transaction did not add (a store from before the chain; rows written
   * by something other than kubetrail) are read back and covered too. Returns the link, or
   * null when nothing new was stored.
   */
  append(): Link | null {
    const added = this.rows;
    this.rows = [];
    const prev = lastLink(this.db);
    const from = prev ? prev.lastEvent + 1 : 1;
    const upTo = added.length ? added[0]!.id - 1 : (this.db.prepare('SELECT coalesce(max(id), 0) FROM events').pluck().get() as number);
    const rows: { id: number; day: number; text: string }[] = [];
    if (upTo >= from) {
      for (const r of this.db.prepare(EVENT_SELECT).raw().iterate(from, upTo)) {
        const values = r as unknown[];
        rows.push({ id: values[0] as number, day: dayOfMicros(values[1 + RECEIVED_AT] as number), text: canonicalRow(values) });
      }
    }
    rows.push(...added);
    const dims = dimensionMarks(this.db);
    const prevDims = prev?.dims ?? NO_DIMS;
    if (rows.length === 0 && (Object.keys(dims) as ChainedDimension[]).every((t) => dims[t] === prevDims[t])) return null;

    const lastEvent = rows.length ? rows.at(-1)!.id : from - 1;
    // A digest per id of the range; 0 where no row was (ids left by rows deleted before chaining).
    const rowDigests = Buffer.alloc((lastEvent - from + 1) * 4);
    const byDay = new Map<number, string[]>();
    for (const r of rows) {
      rowDigests.writeUInt32BE(rowDigest(r.text), (r.id - from) * 4);
      (byDay.get(r.day) ?? byDay.set(r.day, []).get(r.day)!).push(r.text);
    }
    const days = [...byDay].sort((a, b) => a[0] - b[0]).map(([day, texts]): [number, number, string] => [day, texts.length, sha256Lines(texts)]);
    const header = { seq: (prev?.seq ?? 0) + 1, committedAt: this.now(), firstEvent: from, lastEvent, dims, days };
    const link: Link = { ...header, rowDigests, link: linkHash(prev?.link ?? GENESIS, header, dimensionsHash(this.db, prevDims, dims)) };
    this.db
      .prepare('INSERT INTO chain_links (seq, committed_at, first_event, last_event, dims, days, row_digests, link) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(link.seq, link.committedAt, link.firstEvent, link.lastEvent, JSON.stringify(dims), JSON.stringify(days), rowDigests, link.link);
    return link;
  }

  /** Forgets what was added (the transaction rolled back). */
  reset(): void {
    this.rows = [];
  }
}

/** A row's digest in row_digests: never 0, which marks an id with no row. */
export const rowDigest = (text: string) => fnv1a(text) || 1;

export function sha256Lines(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(l).update('\n');
  return h.digest('hex');
}

export const EVENTS_IN_RANGE = EVENT_SELECT;
