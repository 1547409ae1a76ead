import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { Clock } from '../../clock.js';
import { principalKey } from '../principalKey.js';
import { auditIdToKey } from '../auditId.js';
import { migrate, readMigrations } from './migrate.js';
import { finishPendingRollups } from './tables/usageRollups.js';

/** Where the SQL migrations are: `migrations/` at the package root, copied beside the build. */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'migrations');

/** A read-only store migrates nothing; a writable one records when it migrated, by `clock`. */
export type StoreOptions = {
  /** SQLite page cache, in KiB (default 32 MiB). */
  cacheKiB?: number;
} & (
  | { readonly: true }
  | {
      readonly?: false;
      clock: Clock;
      /** `FULL` (default) fsyncs the WAL at every commit, so an acknowledged batch survives a power cut. */
      synchronous?: 'FULL' | 'NORMAL';
    }
);

/** An open kubetrail database: SQLite in WAL mode, migrated to the current schema. */
export interface Store {
  db: Database;
  path: string;
  close(): void;
}

/** Opens (creating if needed) and migrates the database at `path`. */
export function openStore(path: string, options: StoreOptions): Store {
  if (path !== ':memory:' && !options.readonly) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma('busy_timeout = 10000');
  // The stored form of an auditID kept as text (alert_events), for joins on the events' key.
  db.function('audit_key', { deterministic: true }, (auditID: unknown) => (typeof auditID === 'string' ? auditIdToKey(auditID) : auditID));
  // The key principals are found by (migration 0020 keys the stored ones with it).
  db.function('principal_key', { deterministic: true }, (json: unknown) => (typeof json === 'string' ? principalKey(json) : null));
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    // Measured (spec/sqlite-facts.md): a larger autocheckpoint spares the writer waits on disk.
    db.pragma('wal_autocheckpoint = 10000');
    migrate(db, readMigrations(MIGRATIONS_DIR), options.clock);
    finishPendingRollups(db);
  }
  db.pragma(`cache_size = -${options.cacheKiB ?? 32768}`);
  db.pragma('temp_store = MEMORY');
  if (!options.readonly) restrictFiles(path);
  return { db, path, close: () => db.close() };
}

/** Throws when the store cannot answer a query (readiness). */
export function checkReadable(store: Store): void {
  store.db.prepare('SELECT 1').get();
}

/**
 * The store's files readable by their owner alone (0600), whatever the umask of the process that
 * made them: the audit trail of a cluster is its most sensitive record. The WAL and shared-memory
 * files are created by SQLite beside it.
 */
function restrictFiles(path: string): void {
  if (path === ':memory:') return;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
