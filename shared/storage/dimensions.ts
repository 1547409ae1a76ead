import type { Database, Statement } from 'better-sqlite3';
import type { ApiResourceKey, ObjectKey } from './eventRecord.js';

/**
 * Interning of repeated values into the dimension tables (strings, principals, api_resources,
 * objects), with an in-memory cache of ids. Ids handed out inside a transaction that later
 * rolls back are forgotten through `rollback()`, so the cache never points at a missing row.
 */
export class Dimensions {
  private readonly caches = new Map<string, Map<string, number>>();
  private pending: [Map<string, number>, string][] = [];
  private readonly stmts: Record<string, { insert: Statement; select: Statement }>;

  constructor(db: Database, private readonly maxCacheEntries = 200_000) {
    const pair = (insert: string, select: string) => ({ insert: db.prepare(insert), select: db.prepare(select).pluck() });
    this.stmts = {
      string: pair('INSERT OR IGNORE INTO strings (value) VALUES (?)', 'SELECT id FROM strings WHERE value = ?'),
      principal: pair(
        'INSERT OR IGNORE INTO principals (username, json) VALUES (?, ?)',
        'SELECT id FROM principals WHERE json = ?',
      ),
      apiResource: pair(
        `INSERT OR IGNORE INTO api_resources (api_group, api_version, resource, subresource, present) VALUES (?, ?, ?, ?, ?)`,
        `SELECT id FROM api_resources WHERE api_group = ? AND api_version = ? AND resource = ? AND subresource = ? AND present = ?`,
      ),
      object: pair(
        'INSERT OR IGNORE INTO objects (api_group, resource, namespace, name, uid) VALUES (?, ?, ?, ?, ?)',
        'SELECT id FROM objects WHERE api_group = ? AND resource = ? AND namespace = ? AND name = ? AND uid = ?',
      ),
    };
  }

  string(value: string): number {
    return this.intern('string', value, () => [value], () => [value]);
  }

  principal(json: string, username: string): number {
    return this.intern('principal', json, () => [username, json], () => [json]);
  }

  apiResource(k: ApiResourceKey): number {
    const params = () => [k.apiGroup, k.apiVersion, k.resource, k.subresource, k.present];
    return this.intern('apiResource', `${k.apiGroup}\0${k.apiVersion}\0${k.resource}\0${k.subresource}\0${k.present}`, params, params);
  }

  object(k: ObjectKey): number {
    const params = () => [k.apiGroup, k.resource, k.namespace, k.name, k.uid];
    return this.intern('object', `${k.apiGroup}\0${k.resource}\0${k.namespace}\0${k.name}\0${k.uid}`, params, params);
  }

  /** Call after a commit: the ids handed out are now durable. */
  commit(): void {
    this.pending = [];
  }

  /** Call after a rollback: forget the ids handed out since the last commit. */
  rollback(): void {
    for (const [cache, key] of this.pending) cache.delete(key);
    this.pending = [];
  }

  private intern(kind: string, key: string, insertParams: () => unknown[], selectParams: () => unknown[]): number {
    let cache = this.caches.get(kind);
    if (!cache) this.caches.set(kind, (cache = new Map()));
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const { insert, select } = this.stmts[kind]!;
    const info = insert.run(...insertParams());
    const id = info.changes > 0 ? Number(info.lastInsertRowid) : (select.get(...selectParams()) as number);
    if (cache.size >= this.maxCacheEntries) {
      // A full reset is simpler than LRU and costs only re-lookups of the values still in use.
      cache.clear();
      this.pending = this.pending.filter(([c]) => c !== cache);
    }
    cache.set(key, id);
    this.pending.push([cache, key]);
    return id;
  }
}
