import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Database, Statement } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';
import type { DimensionName } from '../write/dimensions.js';
import { EVENT_COLUMNS } from '../write/eventRows.js';
import { utcDay } from '../../../calendar.js';

/**
 * The store's hash chain (PCI DSS 10.3.4; migration 0010). Each transaction that stores events
 * appends a link over the event rows it added, the dimension rows added since the previous
 * link (users, objects, strings an event points to), and the previous link; `verifyChain`
 * recomputes it from the rows as they are now.
 *
 * A row is hashed as stored, in a fixed binary form the writer thread builds from the values
 * it binds and a verifier from the values it reads (RowEncoder): times as float64, ids and
 * codes as int32, the auditID's 16 bytes, masks, then the text length-prefixed and the bodies.
 * Building it costs a fraction of a microsecond a row, on a thread ingest waits on.
 */

/** Dimension tables an event's meaning depends on, with the columns hashed (id first). */
export const CHAINED_DIMENSIONS = {
  strings: ['id', 'value'],
  verbs: ['id', 'verb'],
  principals: ['id', 'username', 'json'],
  user_tokens: ['id', 'principal_id', 'credential_id', 'json'],
  api_resources: ['id', 'api_group', 'api_version', 'resource', 'subresource', 'present'],
  objects: ['id', 'api_group', 'resource', 'namespace', 'name', 'uid'],
} as const;
export type ChainedDimension = keyof typeof CHAINED_DIMENSIONS;
export type DimensionMarks = Record<ChainedDimension, number>;
export const NO_DIMENSIONS: DimensionMarks = { strings: 0, verbs: 0, principals: 0, user_tokens: 0, api_resources: 0, objects: 0 };

/**
 * The highest id of a table at a link; 0 for a table the link predates (links written before
 * user_tokens existed have no mark for it). The marks themselves are hashed as stored.
 */
export function markOf(marks: Partial<DimensionMarks>, t: ChainedDimension): number {
  return marks[t] ?? 0;
}

const RECEIVED_AT = EVENT_COLUMNS.indexOf('received_at');
const AUDIT_ID = EVENT_COLUMNS.indexOf('audit_id');
export const dayOfMicros = utcDay;

/**
 * Where each column's value goes in a row's fixed part: a float64 word (times, which exceed
 * 32 bits), an int32 word (ids and small codes), or only the variable part (text; the auditID's
 * 16 bytes have words of their own). A number that does not fit its word (a fraction or a huge
 * value in an id column, written behind kubetrail's back) goes to the variable part, flagged.
 */
const F64_COLUMNS = new Set<string>(['received_at', 'stage_delay', 'resource_version']);
/**
 * token_id joined the events table later (migration 0022): it is hashed only when it has a
 * value, in the variable part, so that rows stored before it hash as they always did.
 */
const TEXT_COLUMNS = new Set<string>(['audit_id', 'query', 'residual', 'token_id']);
const TOKEN_ID = EVENT_COLUMNS.indexOf('token_id');
const [F64, I32, TEXT] = [0, 1, 2];
const KIND = EVENT_COLUMNS.map((c) => (F64_COLUMNS.has(c) ? F64 : TEXT_COLUMNS.has(c) ? TEXT : I32));
/** float64 words: the id, the F64 columns, two for the auditID. */
const F64_WORDS = 1 + F64_COLUMNS.size + 2;
const AID = 1 + F64_COLUMNS.size;
/** int32 words after them: the I32 columns, then masks (null, text, misfit) and the two body lengths. */
const I32_WORDS = EVENT_COLUMNS.length - F64_COLUMNS.size - TEXT_COLUMNS.size + 5;
const ROW_BYTES = Math.ceil((F64_WORDS * 8 + I32_WORDS * 4) / 8) * 8;
const ROW_I32 = ROW_BYTES / 4;
/** Per column: its word (a float64 index for F64, an int32 index for I32, within the row), -1 for TEXT. */
const WORD = (() => {
  let f = 1;
  let i = F64_WORDS * 2;
  return KIND.map((k) => (k === F64 ? f++ : k === I32 ? i++ : -1));
})();
const MASKS = F64_WORDS * 2 + I32_WORDS - 5;

type Bytes = Uint8Array;

/** FNV-1a over a string's UTF-16 code units, from `h`. */
function fnv(h: number, s: string): number {
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h;
}

/**
 * Rows encoded for hashing, in insertion order: a fixed part of ROW_BYTES per row (the id and
 * numeric columns as float64 or int32 words, the auditID's 16 bytes, masks saying which values
 * are null, text or misfit, the body lengths) and a variable part (texts, length-prefixed;
 * bodies). `digest(i)` is a cheap 32-bit digest of row i (FNV-1a over its words and text, CRC-32
 * of its bodies), which finds the row that differs; the chain's SHA-256 is the proof.
 */
export class RowEncoder {
  private f64 = new Float64Array((ROW_BYTES / 8) * 1024);
  private u8 = new Uint8Array(this.f64.buffer);
  private i32 = new Int32Array(this.f64.buffer);
  private dayOf = new Float64Array(1024);
  private digestOf = new Uint32Array(1024);
  private rows = 0;
  /** Whether every row so far is of one day (the common case: one hash over the whole fixed part). */
  private oneDay = true;
  private texts: string[] = [];
  /** Rows with bodies: [row, request, response]. */
  private bodies: [number, Bytes | null, Bytes | null][] = [];

  /** Empties it, keeping its buffers: new ones per transaction would leave the garbage collector megabytes to reclaim. */
  clear(): void {
    this.rows = 0;
    this.oneDay = true;
    this.texts.length = 0;
    this.bodies.length = 0;
  }

  get length(): number {
    return this.rows;
  }

  /** The event id of row i. */
  id(i: number): number {
    return this.f64[(i * ROW_BYTES) / 8]!;
  }

  /** The 32-bit digest of row i; never 0, which marks an id with no row. */
  digest(i: number): number {
    return this.digestOf[i]!;
  }

  /** One stored row: its id, its columns in EVENT_COLUMNS order, its request and response bodies. */
  add(id: number, columns: readonly unknown[], request: Bytes | null, response: Bytes | null): void {
    const row = this.rows;
    if (row === this.dayOf.length) this.grow();
    const f = this.f64;
    const w = this.i32;
    const d = (row * ROW_BYTES) / 8;
    const b = d * 2;
    f[d] = id;
    f[d + AID] = 0;
    f[d + AID + 1] = 0;
    let nulls = 0;
    let texts = 0;
    let misfits = 0;
    let text = '';
    // The digest takes the variable part's pieces as they come (hashing the joined text would
    // first copy it flat).
    let h = 0x811c9dc5;
    for (let c = 0; c < columns.length; c++) {
      const v = columns[c];
      const k = KIND[c]!;
      if (typeof v === 'number') {
        if (k === F64) {
          f[d + WORD[c]!] = v;
          continue;
        }
        if (k === I32 && (v | 0) === v && !Object.is(v, -0)) {
          w[b + WORD[c]!] = v;
          continue;
        }
        misfits |= 1 << c;
        const piece = `n${v};`;
        text += piece;
        h = fnv(h, piece);
      } else if (v === null || v === undefined) {
        if (c !== TOKEN_ID) nulls |= 1 << c;
      }
      else if (typeof v === 'string') {
        texts |= 1 << c;
        text += `${v.length}:${v}`;
        h = fnv(Math.imul(h ^ v.length, 0x01000193), v);
      } else if (c === AUDIT_ID && (v as Bytes).length === 16) this.u8.set(v as Bytes, (d + AID) * 8);
      else {
        texts |= 1 << c;
        const piece = `b${(v as Bytes).length}:${Buffer.from((v as Bytes).buffer, (v as Bytes).byteOffset, (v as Bytes).byteLength).toString('base64')}`;
        text += piece;
        h = fnv(h, piece);
      }
      if (k === F64) f[d + WORD[c]!] = 0;
      else if (k === I32) w[b + WORD[c]!] = 0;
    }
    w[b + MASKS] = nulls;
    w[b + MASKS + 1] = texts;
    w[b + MASKS + 2] = misfits;
    w[b + MASKS + 3] = request === null ? -1 : request.length;
    w[b + MASKS + 4] = response === null ? -1 : response.length;
    for (let k = b + MASKS + 5; k < b + ROW_I32; k++) w[k] = 0;
    this.texts.push(text);
    if (request !== null || response !== null) this.bodies.push([row, request, response]);
    const day = dayOfMicros(columns[RECEIVED_AT] as number);
    if (row > 0 && !Object.is(day, this.dayOf[0])) this.oneDay = false;
    this.dayOf[row] = day;
    for (let k = b, end = b + ROW_I32; k < end; k++) h = Math.imul(h ^ w[k]!, 0x01000193);
    if (request) h = Math.imul(h ^ crc32(request), 0x01000193);
    if (response) h = Math.imul(h ^ crc32(response), 0x01000193);
    this.digestOf[row] = h >>> 0 || 1;
    this.rows = row + 1;
  }

  /** SHA-256 of the rows of one day, in order: their fixed parts, then their texts, then their bodies. */
  dayHashes(): Map<number, { rows: number; hash: string }> {
    const out = new Map<number, { rows: number; hash: string }>();
    if (this.rows === 0) return out;
    if (this.oneDay) {
      const h = createHash('sha256').update(this.u8.subarray(0, this.rows * ROW_BYTES)).update(this.texts.join('\n'));
      for (const [, request, response] of this.bodies) {
        if (request) h.update(request);
        if (response) h.update(response);
      }
      out.set(this.dayOf[0]!, { rows: this.rows, hash: h.digest('hex') });
      return out;
    }
    const byDay = new Map<number, number[]>();
    for (let i = 0; i < this.rows; i++) (byDay.get(this.dayOf[i]!) ?? byDay.set(this.dayOf[i]!, []).get(this.dayOf[i]!)!).push(i);
    for (const [day, rows] of byDay) {
      const h: Hash = createHash('sha256');
      for (const i of rows) h.update(this.u8.subarray(i * ROW_BYTES, (i + 1) * ROW_BYTES));
      h.update(rows.map((i) => this.texts[i]).join('\n'));
      for (const [i, request, response] of this.bodies) {
        if (this.dayOf[i] !== day && !(Number.isNaN(day) && Number.isNaN(this.dayOf[i]))) continue;
        if (request) h.update(request);
        if (response) h.update(response);
      }
      out.set(day, { rows: rows.length, hash: h.digest('hex') });
    }
    return out;
  }

  private grow(): void {
    const n = this.dayOf.length * 2;
    const f = new Float64Array((ROW_BYTES / 8) * n);
    f.set(this.f64);
    this.f64 = f;
    this.u8 = new Uint8Array(f.buffer);
    this.i32 = new Int32Array(f.buffer);
    const days = new Float64Array(n);
    days.set(this.dayOf);
    this.dayOf = days;
    const digests = new Uint32Array(n);
    digests.set(this.digestOf);
    this.digestOf = digests;
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

  /**
   * SHA-256 of the rows with ids in (from, to] of each table, in table then id order. `known`:
   * rows the caller inserted, in id order, used for a table when they are exactly its range
   * (else the range is read back).
   */
  hash(from: DimensionMarks, to: DimensionMarks, known?: Record<ChainedDimension, unknown[][]>): string {
    const h = createHash('sha256');
    for (const t of Object.keys(CHAINED_DIMENSIONS) as ChainedDimension[]) {
      const [lo, hi] = [markOf(from, t), markOf(to, t)];
      if (hi <= lo) continue;
      const mine = known?.[t];
      const covered = mine && mine.length === hi - lo && mine[0]![0] === lo + 1 && mine.at(-1)![0] === hi;
      const rows = covered ? mine : (this.rows[t].all(lo, hi) as unknown[][]);
      h.update(`${t}\n${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    }
    return h.digest('hex');
  }
}

/**
 * A dimension row as CHAINED_DIMENSIONS hashes it, from the parameters Dimensions inserted it
 * with (dimensions.ts); null for a table the chain does not cover.
 */
export function chainedDimensionRow(name: DimensionName, id: number, params: readonly unknown[]): [ChainedDimension, unknown[]] | null {
  switch (name) {
    case 'strings':
    case 'verbs':
    case 'objects':
      return [name, [id, ...params]];
    case 'apiResources':
      return ['api_resources', [id, ...params]];
    case 'principals':
      // Inserted as (json, username); hashed as (username, json).
      return ['principals', [id, params[1], params[0]]];
    case 'userTokens':
      return ['user_tokens', [id, ...params]];
    case 'usageAtoms':
      return null;
  }
}

function noDimensionRows(): Record<ChainedDimension, unknown[][]> {
  return { strings: [], verbs: [], principals: [], user_tokens: [], api_resources: [], objects: [] };
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
  private newDims: Record<ChainedDimension, unknown[][]> = noDimensionRows();
  private readonly readRows: Statement;
  private readonly dims: DimensionRows;
  private readonly last: Statement;
  private readonly maxEvent: Statement;
  private readonly insert: Statement;

  constructor(db: Database, private readonly clock: Clock) {
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
   * A dimension row this connection inserted (committed before the events that use it): the
   * next link hashes it from here instead of reading it back, when its table's new rows are all
   * known so.
   */
  dimensionInserted(name: DimensionName, id: number, params: readonly unknown[]): void {
    const row = chainedDimensionRow(name, id, params);
    if (row) this.newDims[row[0]].push(row[1]);
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
    const upTo = added.length ? added.id(0) - 1 : (this.maxEvent.get() as number);
    let enc = added;
    if (upTo >= from) {
      enc = new RowEncoder();
      for (const r of this.readRows.iterate(from, upTo) as IterableIterator<unknown[]>) addStoredRow(enc, r);
      this.reencode(added, enc);
    }
    const dims = this.dims.marks();
    const prevDims = prev?.dims ?? NO_DIMENSIONS;
    const dimsChanged = (Object.keys(dims) as ChainedDimension[]).some((t) => dims[t] !== markOf(prevDims, t));
    if (enc.length === 0 && !dimsChanged) return null;

    const lastEvent = enc.length ? enc.id(enc.length - 1) : from - 1;
    // A digest per id of the range; 0 where no row was (ids left by rows deleted before chaining).
    const rowDigests = Buffer.alloc((lastEvent - from + 1) * 4);
    for (let i = 0; i < enc.length; i++) rowDigests.writeUInt32BE(enc.digest(i), (enc.id(i) - from) * 4);
    const days = [...enc.dayHashes()].sort((a, b) => a[0] - b[0]).map(([day, d]): [number, number, string] => [day, d.rows, d.hash]);
    const header = { seq: (prev?.seq ?? 0) + 1, committedAt: nowMicros(this.clock), firstEvent: from, lastEvent, dims, days };
    const link: Link = { ...header, rowDigests, link: linkHash(prev?.link ?? GENESIS, header, this.dims.hash(prevDims, dims, this.newDims)) };
    this.newDims = noDimensionRows();
    this.insert.run(link.seq, link.committedAt, link.firstEvent, link.lastEvent, JSON.stringify(dims), JSON.stringify(days), rowDigests, link.link);
    return link;
  }

  /** The rows this transaction added, after the older ones read back: read back too (within the transaction), since one encoder cannot be appended to another. Rare. */
  private reencode(added: RowEncoder, into: RowEncoder): void {
    if (added.length === 0) return;
    for (const r of this.readRows.iterate(added.id(0), added.id(added.length - 1)) as IterableIterator<unknown[]>) addStoredRow(into, r);
  }

  /** Forgets what was added (a transaction rolled back); the next link reads the dimension rows back. */
  reset(): void {
    this.enc.clear();
    this.newDims = noDimensionRows();
  }
}
