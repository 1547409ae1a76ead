import type { Database } from 'better-sqlite3';
import { splitParts } from '../../../partsKey.js';
import { tokenKey } from '../../recordBatch.js';
import { principalKey } from '../../principalKey.js';

/** A dimension table: one id per distinct value. */
export type DimensionName = 'strings' | 'verbs' | 'principals' | 'userTokens' | 'apiResources' | 'objects' | 'usageAtoms';

interface Table {
  name: DimensionName;
  cache: Map<string, number>;
  /** Characters of the cached keys: long values (annotations, user agents) fill memory before the entry bound. */
  chars: number;
  missing: Map<string, unknown[]>;
  /**
   * Writes a value if it is new: its id, whether it was inserted, and the row as inserted when
   * that is not `params`. `idOf` finds the id of a value of a table interned before this one.
   */
  intern: (params: unknown[], idOf: (name: DimensionName, key: string) => number) => { id: number; inserted: boolean; row?: unknown[] };
}

/**
 * Interning of repeated values into the dimension tables, with an in-memory cache of ids.
 * Two phases, so that new values are written in one short transaction of their own instead of
 * holding the write lock while a batch is prepared: `lookup()` each value of a batch and
 * `want()` the unknown ones, then `resolve()`, then `id()` for those. An id is cached only once its row is committed, so the
 * cache never points at a missing row. Dimension rows are insert-only and never change.
 */
/** A table with an empty cache, interned by `intern`. */
function tableOf(name: DimensionName, intern: Table['intern']): Table {
  return { name, cache: new Map(), chars: 0, missing: new Map(), intern };
}

export class Dimensions {
  private readonly tables: Record<DimensionName, Table>;

  /**
   * `onInsert` is called, inside the interning transaction, for each row actually inserted:
   * derived tables (identities of principals) are written with the row they derive from.
   */
  constructor(
    private readonly db: Database,
    private readonly onInsert: (name: DimensionName, id: number, params: unknown[]) => void = () => undefined,
    private readonly maxCacheEntries = 200_000,
    private readonly maxCacheChars = 8_000_000,
  ) {
    /** A table whose UNIQUE constraint spans its whole value: insert, or else find the row. */
    const table = (name: DimensionName, insertSql: string, selectSql: string): Table => {
      const insert = db.prepare(insertSql);
      const select = db.prepare(selectSql).pluck();
      return tableOf(name, (params) => {
        const info = insert.run(...params);
        return info.changes > 0 ? { id: Number(info.lastInsertRowid), inserted: true } : { id: select.get(...params) as number, inserted: false };
      });
    };
    /** Principals are found by the hash of their JSON, then the JSON (principalKey.ts). */
    const principals = (): Table => {
      const select = db.prepare('SELECT id FROM principals WHERE json_key = ? AND json = ?').pluck();
      const insert = db.prepare('INSERT INTO principals (json, username, json_key) VALUES (?, ?, ?)');
      return tableOf('principals', ([json, username]) => {
        const key = principalKey(json as string);
        const id = select.get(key, json) as number | undefined;
        if (id !== undefined) return { id, inserted: false };
        return { id: Number(insert.run(json, username, key).lastInsertRowid), inserted: true };
      });
    };
    /** A token's own values, found like principals; stored with the id of its user's stable part (userParts.ts). */
    const userTokens = (): Table => {
      const select = db.prepare('SELECT id FROM user_tokens WHERE json_key = ? AND json = ? AND credential_id IS ?').pluck();
      const insert = db.prepare('INSERT INTO user_tokens (principal_id, credential_id, json, json_key) VALUES (?, ?, ?, ?)');
      return tableOf('userTokens', ([principalJson, json, credentialId], idOf) => {
        const key = principalKey(tokenKey(json as string, credentialId as string | null));
        const id = select.get(key, json, credentialId) as number | undefined;
        if (id !== undefined) return { id, inserted: false };
        const principalId = idOf('principals', principalJson as string);
        return { id: Number(insert.run(principalId, credentialId, json, key).lastInsertRowid), inserted: true, row: [principalId, credentialId, json] };
      });
    };
    // In this order: a token's row names its principal's.
    this.tables = {
      strings: table('strings', 'INSERT OR IGNORE INTO strings (value) VALUES (?)', 'SELECT id FROM strings WHERE value = ?'),
      verbs: table('verbs', 'INSERT OR IGNORE INTO verbs (verb) VALUES (?)', 'SELECT id FROM verbs WHERE verb = ?'),
      principals: principals(),
      userTokens: userTokens(),
      apiResources: table(
        'apiResources',
        'INSERT OR IGNORE INTO api_resources (api_group, api_version, resource, subresource, present) VALUES (?, ?, ?, ?, ?)',
        'SELECT id FROM api_resources WHERE api_group = ? AND api_version = ? AND resource = ? AND subresource = ? AND present = ?',
      ),
      objects: table(
        'objects',
        'INSERT OR IGNORE INTO objects (api_group, resource, namespace, name, uid) VALUES (?, ?, ?, ?, ?)',
        'SELECT id FROM objects WHERE api_group = ? AND resource = ? AND namespace = ? AND name = ? AND uid = ?',
      ),
      usageAtoms: table(
        'usageAtoms',
        'INSERT OR IGNORE INTO usage_atoms (verb, api_group, resource, subresource, namespace, name, path) VALUES (?, ?, ?, ?, ?, ?, ?)',
        'SELECT id FROM usage_atoms WHERE verb = ? AND api_group = ? AND resource = ? AND subresource = ? AND namespace = ? AND name = ? AND path = ?',
      ),
    };
  }

  /** The cached id of a value, or undefined. */
  lookup(name: DimensionName, key: string): number | undefined {
    return this.tables[name].cache.get(key);
  }

  /** Notes a value to write at the next `resolve()`; `params` are its insert's parameters. */
  want(name: DimensionName, key: string, params: unknown[]): void {
    const t = this.tables[name];
    if (!t.cache.has(key) && !t.missing.has(key)) t.missing.set(key, params);
  }

  /** Writes the values needed and not yet known, in one transaction, and caches their ids. */
  resolve(): void {
    const all = Object.values(this.tables);
    if (all.every((t) => t.missing.size === 0)) return;
    const found: [Table, string, number][] = [];
    const foundNow = new Map<string, number>();
    const idOf = (name: DimensionName, key: string): number => this.tables[name].cache.get(key) ?? foundNow.get(`${name}\u0000${key}`)!;
    this.db.transaction(() => {
      for (const t of all) {
        for (const [key, params] of t.missing) {
          const { id, inserted, row } = t.intern(params, idOf);
          if (inserted) this.onInsert(t.name, id, row ?? params);
          found.push([t, key, id]);
          if (t.name === 'principals') foundNow.set(`${t.name}\u0000${key}`, id);
        }
      }
    }).immediate();
    for (const t of all) t.missing.clear();
    for (const [t, key, id] of found) {
      t.cache.set(key, id);
      t.chars += key.length;
    }
  }

  /** The id of a value passed to `need*()` and resolved. */
  id(name: DimensionName, key: string): number {
    const id = this.tables[name].cache.get(key);
    if (id === undefined) throw new Error(`internal: ${name} value not resolved before use`);
    return id;
  }

  /** Starts a batch: forgets cached ids when a cache has grown past its bound in entries or characters. */
  startBatch(): void {
    for (const t of Object.values(this.tables)) {
      // A full reset is simpler than LRU and costs only re-lookups of the values still in use.
      if (t.cache.size >= this.maxCacheEntries || t.chars >= this.maxCacheChars) {
        t.cache.clear();
        t.chars = 0;
      }
    }
  }

}

/** The insert parameters of a value of a dimension from its key (principals aside: their key is not all of their row). */
export function dimensionParams(name: Exclude<DimensionName, 'principals' | 'userTokens'>, key: string): unknown[] {
  switch (name) {
    case 'strings':
    case 'verbs':
      return [key];
    case 'apiResources': {
      const p = splitParts(key);
      return [p[0], p[1], p[2], p[3], Number(p[4])];
    }
    case 'objects':
    case 'usageAtoms':
      return splitParts(key);
  }
}
