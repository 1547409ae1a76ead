import { existsSync } from 'node:fs';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import type { QueryStore } from '../../shared/storage/port.js';
import { pgQueryStore } from '../../shared/storage/postgres/pgQueryStore.js';
import { openPgStore } from '../../shared/storage/postgres/pgStore.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { sqliteQueryStore } from '../../shared/storage/sqlite/queryStore.js';
import { systemClock } from './clock.js';

/**
 * Runs a command against the configured store's query side (storage/port.ts), closed after:
 * PostgreSQL when storage.url names one, else the SQLite file. For SQLite, `read`: the store
 * must exist, and is opened read-only; `write`: created and migrated if needed.
 */
export async function usingStore<T>(config: Readonly<Config>, mode: 'read' | 'write', run: (store: QueryStore) => T | Promise<T>): Promise<T> {
  if (config.storage.url) {
    const pg = await openPgStore(config.storage.url, { clock: systemClock });
    try {
      return await run(pgQueryStore(pg, config.identityMap));
    } finally {
      await pg.close();
    }
  }
  const path = config.database.path;
  if (mode === 'read' && !existsSync(path)) throw new InputError(`${path}: no database yet; store events with kubetrail ingest or kubetrail serve`);
  const store = mode === 'read' ? openStore(path, { readonly: true }) : openStore(path, { clock: systemClock });
  try {
    return await run(sqliteQueryStore(store.db));
  } finally {
    store.close();
  }
}
