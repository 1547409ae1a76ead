import { existsSync } from 'node:fs';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import type { QueryStore } from '../../shared/storage/port.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { sqliteQueryStore } from '../../shared/storage/sqlite/queryStore.js';
import { systemClock } from './clock.js';

/**
 * Runs a command against the local store's query side (storage/port.ts), closed after.
 * `read`: the store must exist, and is opened read-only; `write`: created and migrated if needed.
 */
export async function usingStore<T>(config: Readonly<Config>, mode: 'read' | 'write', run: (store: QueryStore) => T | Promise<T>): Promise<T> {
  const path = config.database.path;
  if (mode === 'read' && !existsSync(path)) throw new InputError(`${path}: no database yet; store events with kubetrail ingest or kubetrail serve`);
  const store = mode === 'read' ? openStore(path, { readonly: true }) : openStore(path, { clock: systemClock });
  try {
    return await run(sqliteQueryStore(store.db));
  } finally {
    store.close();
  }
}
