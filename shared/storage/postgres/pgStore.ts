import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Clock } from '../../clock.js';
import { ConfigError, StoreUnavailableError, errorMessage } from '../../errors.js';
import { readMigrations, type Migration } from '../sqlite/migrate.js';
import { inTransaction } from './pgTransaction.js';
import { finishPendingPgRollups } from './pgUsage.js';

export { inTransaction };

/** The PostgreSQL migrations: `migrations/postgres/` at the package root, copied beside the build. */
export const PG_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'migrations', 'postgres');

/** Whether `--db` (or storage.url) names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL without its password, for messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** Key of the advisory lock that serializes migrations between kubetrails starting at once. */
const MIGRATION_LOCK = 0x6b74_0001;

/** An open PostgreSQL store: a pool of connections, migrated to the current schema. */
export interface PgStore {
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
}

/**
 * Connects to the database at `url` and applies the migrations it has not seen, in one
 * transaction under an advisory lock: several kubetrails starting at once migrate it once.
 */
export async function openPgStore(url: string, options: { clock: Clock; maxConnections?: number }): Promise<PgStore> {
  if (!isPostgresUrl(url)) throw new ConfigError(`storage.url: expected postgres://user@host:port/database, got '${safeUrl(url)}'`);
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 4, application_name: 'kubetrail' });
  // An idle connection the server drops must not take the process down with it.
  pool.on('error', () => undefined);
  try {
    await migratePg(pool, readMigrations(PG_MIGRATIONS_DIR), options.clock);
    await finishPendingPgRollups(pool);
  } catch (err) {
    await pool.end();
    if (err instanceof ConfigError) throw err;
    throw new StoreUnavailableError(`PostgreSQL at ${safeUrl(url)}: ${errorMessage(err)}`);
  }
  return { pool, url, close: () => pool.end() };
}

/** Applies the migrations the database lacks; refuses a database newer than this kubetrail. Returns the versions applied. */
export function migratePg(pool: pg.Pool, migrations: Migration[], clock: Clock): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > migrations.length) {
      throw new ConfigError(`the database has schema version ${newest}, newer than this kubetrail knows (${migrations.length}): upgrade kubetrail`);
    }
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date(clock()).toISOString()]);
      done.push(m.version);
    }
    return done;
  });
}
