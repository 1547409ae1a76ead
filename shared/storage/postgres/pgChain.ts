import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { hostname } from 'node:os';
import type pg from 'pg';
import { nowMicros, type Clock } from '../../clock.js';

/**
 * The hash chain on PostgreSQL (PCI DSS 10.3.4; migrations/postgres/0005): one stream per
 * writer, so that writers never wait on one chain head. Each transaction that stores events
 * appends a link to its writer's stream over:
 *   - the event rows it added, each in a canonical text of the values as stored (rowText), with
 *     its CRC-32 (to name the row that changed; the day's SHA-256 is what cannot be forged);
 *   - per UTC day, a SHA-256 of the day's rows and one of the dimension rows they point to
 *     (users, tokens, objects, strings) as stored, so that a day moved to an archive leaves the
 *     others checkable;
 *   - the previous link of the stream.
 * `verifyPgChain` (pgVerify.ts) recomputes every stream from the rows as they are now.
 */

export const GENESIS = Buffer.alloc(32);
const DAY_MICROS = 86_400_000_000;

/** The dimension tables an event row points to, by column, and the columns of each hashed (after its id). */
export const DIMENSION_OF_COLUMN: Record<string, keyof typeof DIMENSION_COLUMNS> = {
  cluster_id: 'strings', verb_id: 'verbs', user_id: 'principals', impersonated_id: 'principals', source_ips_id: 'strings', user_agent_id: 'strings',
  resource_id: 'api_resources', object_id: 'objects', path_id: 'strings', reason_id: 'strings', annotations_id: 'strings', token_id: 'user_tokens',
};
export const DIMENSION_COLUMNS = {
  strings: ['value'],
  verbs: ['verb'],
  principals: ['json', 'username'],
  // Not principal_id: the user a token was first stored with, by whichever writer came first.
  user_tokens: ['credential_id', 'json'],
  api_resources: ['api_group', 'api_version', 'resource', 'subresource', 'present'],
  objects: ['api_group', 'resource', 'namespace', 'name', 'uid'],
} as const;
export type DimensionTable = keyof typeof DIMENSION_COLUMNS;
const TABLES = Object.keys(DIMENSION_COLUMNS) as DimensionTable[];

/** An event row as a link covers it: its id, its values in the events' column order, its bodies. */
export interface ChainedRow {
  id: number;
  values: readonly unknown[];
  request: Uint8Array | null;
  response: Uint8Array | null;
}

function digest(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : createHash('sha256').update(bytes).digest('hex');
}

/** A row's canonical text: its id, values and body digests as JSON. */
export function rowText(r: ChainedRow): string {
  return JSON.stringify([r.id, ...r.values, digest(r.request), digest(r.response)]);
}

/** The 4 bytes a link keeps of a row: the CRC-32 of its text. */
export function rowDigest(text: string): number {
  return crc32(text);
}

/** A day of a link: [day, rows, SHA-256 of the rows, SHA-256 of the dimension rows they point to]. */
export type LinkDay = [day: number, rows: number, rowsHash: string, dimensionsHash: string];

/** The dimension rows a set of rows points to, by table and id: their columns as stored. */
export type DimensionRows = Map<DimensionTable, Map<number, readonly unknown[]>>;

export const dayOf = (receivedAt: unknown) => Math.floor(Number(receivedAt) / DAY_MICROS);

/**
 * What a link records of its rows: their ids (varint deltas), a 4-byte digest each, and per day
 * the hashes of its rows and of the dimension rows they point to (`dimensions`, which must hold
 * every one of them).
 */
export function rowsRecord(rows: ChainedRow[], columns: readonly string[], dimensions: DimensionRows): { eventIds: Buffer; digests: Buffer; days: LinkDay[] } {
  const receivedAt = columns.indexOf('received_at');
  const pointers = Object.entries(DIMENSION_OF_COLUMN).map(([c, t]) => [columns.indexOf(c), t] as const);
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  const digests = Buffer.alloc(sorted.length * 4);
  const days = new Map<number, { rows: number; hash: ReturnType<typeof createHash>; dims: DimensionRows }>();
  sorted.forEach((r, i) => {
    const text = rowText(r);
    digests.writeUInt32BE(rowDigest(text), i * 4);
    const day = dayOf(r.values[receivedAt]);
    let d = days.get(day);
    if (!d) days.set(day, (d = { rows: 0, hash: createHash('sha256'), dims: new Map() }));
    d.rows++;
    d.hash.update(text).update('\n');
    for (const [at, table] of pointers) {
      const id = r.values[at] as number | null;
      if (id === null) continue;
      let m = d.dims.get(table);
      if (!m) d.dims.set(table, (m = new Map()));
      if (m.has(id)) continue;
      const stored = dimensions.get(table)?.get(id);
      // A row pointing to no dimension row hashes as pointing to nothing.
      m.set(id, stored ?? ['(missing)']);
    }
  });
  return {
    eventIds: encodeIds(sorted.map((r) => r.id)),
    digests,
    days: [...days].sort((a, b) => a[0] - b[0]).map(([day, d]) => [day, d.rows, d.hash.digest('hex'), dimensionsHash(d.dims)]),
  };
}

/** SHA-256 over dimension rows (table, id, columns as stored), in table and id order. */
function dimensionsHash(rows: DimensionRows): string {
  const h = createHash('sha256');
  for (const t of TABLES) {
    const m = rows.get(t);
    if (!m) continue;
    for (const id of [...m.keys()].sort((a, b) => a - b)) h.update(JSON.stringify([t, id, ...m.get(id)!])).update('\n');
  }
  return h.digest('hex');
}

export interface PgLink {
  streamId: number;
  seq: number;
  committedAt: number;
  rows: number;
  eventIds: Buffer;
  digests: Buffer;
  days: LinkDay[];
  link: Buffer;
}

/** A link's hash: over the previous link and everything the link records. */
export function linkHash(prev: Buffer, l: Omit<PgLink, 'link'>): Buffer {
  const claims = JSON.stringify([l.streamId, l.seq, l.committedAt, l.rows, sha256Hex(l.eventIds), sha256Hex(l.digests), l.days]);
  return createHash('sha256').update(prev).update(claims).digest();
}

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Ascending ids as varint deltas: a byte or two an event. */
export function encodeIds(ids: readonly number[]): Buffer {
  const out: number[] = [];
  let prev = 0;
  for (const id of ids) {
    let d = id - prev;
    prev = id;
    while (d >= 0x80) {
      out.push((d % 0x80) | 0x80);
      d = Math.floor(d / 0x80);
    }
    out.push(d);
  }
  return Buffer.from(out);
}

export function decodeIds(b: Buffer): number[] {
  const ids: number[] = [];
  let prev = 0;
  let d = 0;
  let scale = 1;
  for (const byte of b) {
    d += (byte & 0x7f) * scale;
    if (byte & 0x80) {
      scale *= 0x80;
      continue;
    }
    prev += d;
    ids.push(prev);
    d = 0;
    scale = 1;
  }
  return ids;
}

/**
 * A writer's stream: opened when the writer opens (its own row, committed at once), extended by
 * one link per transaction that stores events. The stream's head moves only once the
 * transaction that wrote the link has committed (`advance`).
 */
export class PgChainStream {
  private seq = 0;
  private prev: Buffer = GENESIS;

  private constructor(readonly id: number, private readonly clock: Clock) {}

  static async open(pool: pg.Pool, clock: Clock): Promise<PgChainStream> {
    const r = await pool.query<{ id: string }>('INSERT INTO chain_streams (writer, started_at) VALUES ($1, $2) RETURNING id', [`${hostname()} pid ${process.pid}`, nowMicros(clock)]);
    return new PgChainStream(Number(r.rows[0]!.id), clock);
  }

  /** Writes the link of a transaction's rows in it; call advance(link) once it has committed. */
  async append(client: pg.PoolClient, rows: ChainedRow[], columns: readonly string[], dims: DimensionRows): Promise<PgLink | null> {
    if (rows.length === 0) return null;
    const record = rowsRecord(rows, columns, dims);
    const claims = { streamId: this.id, seq: this.seq + 1, committedAt: nowMicros(this.clock), rows: rows.length, ...record };
    const link: PgLink = { ...claims, link: linkHash(this.prev, claims) };
    await client.query('INSERT INTO chain_links (stream_id, seq, committed_at, rows, event_ids, digests, days, first_day, last_day, link) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)', [
      link.streamId, link.seq, link.committedAt, link.rows, link.eventIds, link.digests, JSON.stringify(link.days), link.days[0]![0], link.days.at(-1)![0], link.link,
    ]);
    return link;
  }

  advance(link: PgLink | null): void {
    if (!link) return;
    this.seq = link.seq;
    this.prev = link.link;
  }

  /** The head, for recording outside the store. */
  head(): { seq: number; hash: string } | null {
    return this.seq === 0 ? null : { seq: this.seq, hash: this.prev.toString('hex') };
  }
}

/** The dimension rows the rows point to, as stored now (dimension rows are never archived). */
export async function dimensionRows(pool: pg.Pool, rows: readonly ChainedRow[], columns: readonly string[]): Promise<DimensionRows> {
  const wanted = new Map<DimensionTable, Set<number>>();
  for (const [column, table] of Object.entries(DIMENSION_OF_COLUMN)) {
    const at = columns.indexOf(column);
    for (const r of rows) {
      const id = r.values[at];
      if (id === null || id === undefined) continue;
      let s = wanted.get(table);
      if (!s) wanted.set(table, (s = new Set()));
      s.add(id as number);
    }
  }
  const out: DimensionRows = new Map();
  for (const [table, ids] of wanted) {
    const names = DIMENSION_COLUMNS[table] as readonly string[];
    const r = await pool.query<Record<string, unknown>>(`SELECT id, ${names.join(', ')} FROM ${table} WHERE id = ANY($1::bigint[])`, [[...ids]]);
    out.set(table, new Map(r.rows.map((x) => [Number(x.id), names.map((c) => x[c])])));
  }
  return out;
}
