import { createHash } from 'node:crypto';
import type pg from 'pg';
import { splitParts } from '../../partsKey.js';

/** The dimensions an event row and the usage rollups refer to, in the order they are interned (a token names its principal). */
export type PgDimension = 'strings' | 'verbs' | 'apiResources' | 'objects' | 'principals' | 'userTokens' | 'rbacSubjects' | 'usageAtoms';

interface Spec {
  table: string;
  columns: string[];
  /** PostgreSQL type of each column, for the arrays a batch is sent in. */
  types: string[];
}

const SPECS: Record<PgDimension, Spec> = {
  strings: { table: 'strings', columns: ['value'], types: ['text'] },
  verbs: { table: 'verbs', columns: ['verb'], types: ['text'] },
  apiResources: { table: 'api_resources', columns: ['api_group', 'api_version', 'resource', 'subresource', 'present'], types: ['text', 'text', 'text', 'text', 'smallint'] },
  objects: { table: 'objects', columns: ['api_group', 'resource', 'namespace', 'name', 'uid'], types: ['text', 'text', 'text', 'text', 'text'] },
  principals: { table: 'principals', columns: ['json', 'username'], types: ['text', 'text'] },
  userTokens: { table: 'user_tokens', columns: ['principal_id', 'credential_id', 'json'], types: ['bigint', 'text', 'text'] },
  rbacSubjects: { table: 'rbac_subjects', columns: ['username', 'groups'], types: ['text', 'text'] },
  usageAtoms: { table: 'usage_atoms', columns: ['verb', 'api_group', 'resource', 'subresource', 'namespace', 'name', 'path'], types: ['text', 'text', 'text', 'text', 'text', 'text', 'text'] },
};

const ORDER: PgDimension[] = ['strings', 'verbs', 'apiResources', 'objects', 'principals', 'userTokens', 'rbacSubjects', 'usageAtoms'];

/** The columns of a value of a dimension keyed by its parts (recordBatch.ts apiResourceKey, objectKey). */
export function partsColumns(dimension: 'apiResources' | 'objects', key: string): unknown[] {
  const p = splitParts(key);
  return dimension === 'apiResources' ? [p[0], p[1], p[2], p[3], Number(p[4])] : p;
}

/** What identifies a row: SHA-256 of its dimension and key, so that no index holds a long value. */
function rowKey(dimension: PgDimension, key: string): Buffer {
  return createHash('sha256').update(dimension).update('\u0000').update(key).digest();
}

/**
 * Finds or adds the rows of values, in batches. Each new value is inserted with the others of its
 * dimension in one statement, in the order of their keys, outside any other transaction: writers
 * adding the same values at once wait for one another briefly and never deadlock. Ids seen are
 * cached (bounded: past `maxCached` the cache starts afresh).
 */
export class PgDimensions {
  private readonly cache = new Map<PgDimension, Map<string, number>>(ORDER.map((d) => [d, new Map()]));
  private cached = 0;
  private wanted = new Map<PgDimension, Map<string, () => unknown[]>>();

  constructor(private readonly maxCached = 200_000) {}

  /** Before a batch's values are asked for: a cache past its bound starts afresh. */
  startBatch(): void {
    if (this.cached <= this.maxCached) return;
    for (const m of this.cache.values()) m.clear();
    this.cached = 0;
  }

  /** Asks for the row of `key`; `columns` gives its values when it must be added (called after the dimensions it names are resolved). */
  want(dimension: PgDimension, key: string, columns: () => unknown[]): void {
    if (this.cache.get(dimension)!.has(key)) return;
    let w = this.wanted.get(dimension);
    if (!w) this.wanted.set(dimension, (w = new Map()));
    w.set(key, columns);
  }

  /** The id of a value asked for (after resolve). */
  id(dimension: PgDimension, key: string): number {
    const id = this.cache.get(dimension)!.get(key);
    if (id === undefined) throw new Error(`internal: ${dimension} '${key.slice(0, 80)}' was not interned`);
    return id;
  }

  /** Adds the values asked for that are not stored yet, and learns the ids of all of them. */
  async resolve(pool: pg.Pool | pg.PoolClient): Promise<void> {
    const wanted = this.wanted;
    this.wanted = new Map();
    for (const dimension of ORDER) {
      const w = wanted.get(dimension);
      if (!w || w.size === 0) continue;
      const spec = SPECS[dimension];
      const keyed = [...w].map(([key, columns]) => ({ key, hash: rowKey(dimension, key), columns })).sort((a, b) => Buffer.compare(a.hash, b.hash));
      const arrays: unknown[][] = [keyed.map((k) => k.hash), ...spec.columns.map(() => [] as unknown[])];
      for (const k of keyed) k.columns().forEach((v, i) => arrays[i + 1]!.push(v));
      const unnest = ['bytea', ...spec.types].map((t, i) => `$${i + 1}::${t}[]`).join(', ');
      await pool.query(
        `INSERT INTO ${spec.table} (key, ${spec.columns.join(', ')}) SELECT * FROM unnest(${unnest}) ON CONFLICT (key) DO NOTHING`,
        arrays,
      );
      const found = await pool.query<{ id: string; key: Buffer }>(`SELECT id, key FROM ${spec.table} WHERE key = ANY($1::bytea[])`, [arrays[0]]);
      const byHash = new Map(found.rows.map((r) => [r.key.toString('hex'), Number(r.id)]));
      const cache = this.cache.get(dimension)!;
      for (const k of keyed) {
        const id = byHash.get(k.hash.toString('hex'));
        if (id === undefined) throw new Error(`internal: ${spec.table} lost a row just added`);
        cache.set(k.key, id);
        this.cached++;
      }
    }
  }
}
