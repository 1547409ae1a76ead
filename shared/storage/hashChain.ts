import { createHash, type Hash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { EVENT_COLUMNS } from './eventRows.js';

/**
 * The store's hash chain (PCI DSS 10.3.4; migration 0010). Each transaction that stores events
 * appends a link over the event rows it added, the dimension rows added since the previous
 * link (users, objects, strings an event points to), and the previous link; `verifyChain`
 * recomputes it from the rows as they are now.
 *
 * A row is hashed as stored, in a fixed binary form the writer thread builds from the values
 * it binds and a verifier from the values it reads: the numbers as float64, the auditID's 16
 * bytes, masks saying which values are null or text, then the text and body bytes
 * length-prefixed. Building it costs well under a microsecond a row, on the thread that is
 * ingest's bottleneck.
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
export const NO_DIMENSIONS: DimensionMarks = { strings: 0, verbs: 0, principals: 0, api_resources: 0, objects: 0 };

const RECEIVED_AT = EVENT_COLUMNS.indexOf('received_at');
const AUDIT_ID = EVENT_COLUMNS.indexOf('audit_id');
const DAY_MICROS = 86_400_000_000;
export const dayOfMicros = (micros: number) => Math.floor(micros / DAY_MICROS);

/** Doubles per row: the id, the columns, two for a 16-byte auditID, the null and text masks, the two body lengths. */
const SLOTS = 1 + EVENT_COLUMNS.length + 2 + 2 + 2;
const AID = 1 + EVENT_COLUMNS.length;
const NULLS = AID + 2;
const TEXTS = NULLS + 1;
const BODIES = TEXTS + 1;

type Bytes = Uint8Array;

/**
 * Rows encoded for hashing, in insertion order: a growing float64 area of SLOTS per row, and
 * per row its text and body parts. `digest(i)` is a cheap 32-bit digest of row i (FNV-1a over
 * its words and text), which finds the row that differs; the chain's SHA-256 is the proof.
 */
export class RowEncoder {
  private f64 = new Float64Array(SLOTS * 1024);
  private u8 = new Uint8Array(this.f64.buffer);
  private i32 = new Int32Array(this.f64.buffer);
  private texts: string[] = [];
  /** Rows with bodies: [row, request, response]. */
  private bodies: [number, Bytes | null, Bytes | null][] = [];
  readonly ids: number[] = [];
  readonly days: number[] = [];
  readonly digests: number[] = [];

  /** Empties it, keeping its buffer: a new one per transaction would leave the garbage collector megabytes to reclaim. */
  clear(): void {
    this.texts.length = 0;
    this.bodies.length = 0;
    this.ids.length = 0;
    this.days.length = 0;
    this.digests.length = 0;
  }

  get length(): number {
    return this.ids.length;
  }

  /** One stored row: its id, its columns in EVENT_COLUMNS order, its request and response bodies. */
  add(id: number, columns: readonly unknown[], request: Bytes | null, response: Bytes | null): void {
    const row = this.ids.length;
    if ((row + 1) * SLOTS > this.f64.length) this.grow();
    const f = this.f64;
    const base = row * SLOTS;
    f[base] = id;
    f[base + AID] = 0;
    f[base + AID + 1] = 0;
    let nulls = 0;
    let textMask = 0;
    let text = '';
    for (let c = 0; c < columns.length; c++) {
      const v = columns[c];
      if (typeof v === 'number') f[base + 1 + c] = v;
      else {
        f[base + 1 + c] = 0;
        if (v === null || v === undefined) nulls |= 1 << c;
        else if (typeof v === 'string') {
          textMask |= 1 << c;
          text += `${v.length}:${v}`;
        } else if (c === AUDIT_ID && (v as Bytes).length === 16) this.u8.set(v as Bytes, (base + AID) * 8);
        else {
          textMask |= 1 << c;
          text += `b${(v as Bytes).length}:${Buffer.from((v as Bytes).buffer, (v as Bytes).byteOffset, (v as Bytes).byteLength).toString('base64')}`;
        }
      }
    }
    f[base + NULLS] = nulls;
    f[base + TEXTS] = textMask;
    f[base + BODIES] = request === null ? -1 : request.length;
    f[base + BODIES + 1] = response === null ? -1 : response.length;
    this.texts.push(text);
    if (request !== null || response !== null) this.bodies.push([row, request, response]);
    this.ids.push(id);
    this.days.push(dayOfMicros(columns[RECEIVED_AT] as number));
    let h = 0x811c9dc5;
    const w = this.i32;
    for (let k = base * 2, end = (base + SLOTS) * 2; k < end; k++) h = Math.imul(h ^ w[k]!, 0x01000193);
    for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
    for (const b of [request, response]) if (b) for (let k = 0; k < b.length; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
    // Never 0: that marks an id with no row.
    this.digests.push(h >>> 0 || 1);
  }

  /** SHA-256 of the rows of one day, in order: their words, then their texts, then their bodies. */
  dayHashes(): Map<number, { rows: number; hash: string }> {
    const byDay = new Map<number, number[]>();
    this.days.forEach((d, i) => (byDay.get(d) ?? byDay.set(d, []).get(d)!).push(i));
    const out = new Map<number, { rows: number; hash: string }>();
    for (const [day, rows] of byDay) {
      const h: Hash = createHash('sha256');
      const whole = rows.length === this.ids.length;
      if (whole) h.update(this.u8.subarray(0, rows.length * SLOTS * 8));
      else for (const i of rows) h.update(this.u8.subarray(i * SLOTS * 8, (i + 1) * SLOTS * 8));
      h.update(whole ? this.texts.join('\n') : rows.map((i) => this.texts[i]).join('\n'));
      const inDay = new Set(whole ? [] : rows);
      for (const [i, request, response] of this.bodies) {
        if (!whole && !inDay.has(i)) continue;
        if (request) h.update(request);
        if (response) h.update(response);
      }
      out.set(day, { rows: rows.length, hash: h.digest('hex') });
    }
    return out;
  }

  private grow(): void {
    const f = new Float64Array(this.f64.length * 2);
    f.set(this.f64);
    this.f64 = f;
    this.u8 = new Uint8Array(f.buffer);
    this.i32 = new Int32Array(f.buffer);
  }
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
export function linkHash(prev: Buffer, l: Pick<Link, 'seq' | 'committedAt' | 'firstEvent' | 'lastEvent' | 'dims' | 'days'>, dimsHash: string): Buffer {
  return createHash('sha256')
    .update(prev)
    .update(JSON.stringify([l.seq, l.committedAt, l.firstEvent, l.lastEvent, l.dims, dimsHash, l.days]))
    .digest();
}

/** The dimension rows a link covers, read with statements prepared once per connection. */
export class DimensionRows {
  private readonly max: Record<ChainedDimension, Statement>;
  private readonly rows: Record<ChainedDimension, Statement>;

  constructor(db: Database) {
    const tables = Object.entries(CHAINED_DIMENSIONS) as [ChainedDimension, readonly string[]][];
    this.max = Object.fromEntries(tables.map(([t]) => [t, db.prepare(`SELECT coalesce(max(id), 0) FROM ${t}`).pluck()])) as Record<ChainedDimension, Statement>;
    this.rows = Object.fromEntries(tables.map(([t, columns]) => [t, db.prepare(`SELECT ${columns.join(', ')} FROM ${t} WHERE id > ? AND id <= ? ORDER BY id`).raw()])) as Record<ChainedDimension, Statement>;
  }

  /** The highest id of each table now. */
  marks(): DimensionMarks {
    const marks = { ...NO_DIMENSIONS };
    for (const t of Object.keys(CHAINED_DIMENSIONS) as ChainedDimension[]) marks[t] = this.max[t].get() as number;
    return marks;
  }

  /** SHA-256 of the rows with ids in (from, to] of each table, in table then id order. */
  hash(from: DimensionMarks, to: DimensionMarks): string {
    const h = createHash('sha256');
    for (const t of Object.keys(CHAINED_DIMENSIONS) as ChainedDimension[]) {
      if (to[t] <= from[t]) continue;
      h.update(`${t}\n`);
      for (const r of this.rows[t].iterate(from[t], to[t])) h.update(JSON.stringify(r)).update('\n');
    }
    return h.digest('hex');
  }
}

export function toLink(r: Record<string, unknown>): Link {
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

const LAST_LINK = 'SELECT * FROM chain_links ORDER BY seq DESC LIMIT 1';

export function lastLink(db: Database): Link | null {
  const r = db.prepare(LAST_LINK).get() as Record<string, unknown> | undefined;
  return r ? toLink(r) : null;
}

/** Stored events with their bodies, in id order: what the chain covers, as it is now. */
export function storedRows(db: Database): Statement {
  return db.prepare(`SELECT e.id, ${EVENT_COLUMNS.map((c) => `e.${c}`).join(', ')}, b.request, b.response
    FROM events e LEFT JOIN bodies b ON b.event_id = e.id WHERE e.id BETWEEN ? AND ? ORDER BY e.id`).raw();
}

/** Adds a stored row as read by storedRows() to an encoder. */
export function addStoredRow(enc: RowEncoder, r: unknown[]): void {
  enc.add(r[0] as number, r.slice(1, 1 + EVENT_COLUMNS.length), r[1 + EVENT_COLUMNS.length] as Bytes | null, r[2 + EVENT_COLUMNS.length] as Bytes | null);
}

/** Accumulates the rows a transaction adds and appends the link before it commits. */
export class ChainAppender {
  private readonly enc = new RowEncoder();
  private readonly readRows: Statement;
  private readonly dims: DimensionRows;
  private readonly last: Statement;
  private readonly maxEvent: Statement;
  private readonly insert: Statement;

  constructor(db: Database, private readonly now: () => number = () => Date.now() * 1000) {
    this.readRows = storedRows(db);
    this.dims = new DimensionRows(db);
    this.last = db.prepare(LAST_LINK);
    this.maxEvent = db.prepare('SELECT coalesce(max(id), 0) FROM events').pluck();
    this.insert = db.prepare('INSERT INTO chain_links (seq, committed_at, first_event, last_event, dims, days, row_digests, link) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  }

  /** One event the transaction inserted (ids increase). */
  add(id: number, columns: readonly unknown[], request: Bytes | null, response: Bytes | null): void {
    this.enc.add(id, columns, request, response);
  }

  /**
   * Appends the link, inside the transaction that stored the rows. Rows the chain does not
   * cover yet that this transaction did not add (a store from before the chain; rows stored
   * while the benchmark switched it off) are read back and covered too. Returns the link, or
   * null when nothing new was stored.
   */
  append(): Link | null {
    try {
      return this.appendLink(this.enc);
    } finally {
      this.enc.clear();
    }
  }

  private appendLink(added: RowEncoder): Link | null {
    const prevRow = this.last.get() as Record<string, unknown> | undefined;
    const prev = prevRow ? toLink(prevRow) : null;
    const from = prev ? prev.lastEvent + 1 : 1;
    const upTo = added.length ? added.ids[0]! - 1 : (this.maxEvent.get() as number);
    let enc = added;
    if (upTo >= from) {
      enc = new RowEncoder();
      for (const r of this.readRows.iterate(from, upTo) as IterableIterator<unknown[]>) addStoredRow(enc, r);
      this.reencode(added, enc);
    }
    const dims = this.dims.marks();
    const prevDims = prev?.dims ?? NO_DIMENSIONS;
    const dimsChanged = (Object.keys(dims) as ChainedDimension[]).some((t) => dims[t] !== prevDims[t]);
    if (enc.length === 0 && !dimsChanged) return null;

    const lastEvent = enc.length ? enc.ids[enc.length - 1]! : from - 1;
    // A digest per id of the range; 0 where no row was (ids left by rows deleted before chaining).
    const rowDigests = Buffer.alloc((lastEvent - from + 1) * 4);
    enc.ids.forEach((id, i) => rowDigests.writeUInt32BE(enc.digests[i]!, (id - from) * 4));
    const days = [...enc.dayHashes()].sort((a, b) => a[0] - b[0]).map(([day, d]): [number, number, string] => [day, d.rows, d.hash]);
    const header = { seq: (prev?.seq ?? 0) + 1, committedAt: this.now(), firstEvent: from, lastEvent, dims, days };
    const link: Link = { ...header, rowDigests, link: linkHash(prev?.link ?? GENESIS, header, this.dims.hash(prevDims, dims)) };
    this.insert.run(link.seq, link.committedAt, link.firstEvent, link.lastEvent, JSON.stringify(dims), JSON.stringify(days), rowDigests, link.link);
    return link;
  }

  /** The rows this transaction added, after the older ones read back: read back too (within the transaction), since one encoder cannot be appended to another. Rare. */
  private reencode(added: RowEncoder, into: RowEncoder): void {
    if (added.length === 0) return;
    for (const r of this.readRows.iterate(added.ids[0]!, added.ids[added.length - 1]!) as IterableIterator<unknown[]>) addStoredRow(into, r);
  }

  /** Forgets what was added (the transaction rolled back). */
  reset(): void {
    this.enc.clear();
  }
}
