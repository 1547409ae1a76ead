import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../clock.js';
import type { Database } from 'better-sqlite3';

/** A numbered SQL migration: `0001_events.sql` is version 1. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads the numbered `.sql` files of a folder, in order; refuses gaps and repeats. */
export function readMigrations(dir: string): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => {
      const m = /^(\d+)_([\w-]+)\.sql$/.exec(f);
      if (!m) throw new Error(`migration ${join(dir, f)}: expected a name like 0001_what.sql`);
      return { version: Number(m[1]), name: f, sql: readFileSync(join(dir, f), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: expected version ${i + 1} (numbers must run 1, 2, 3… without gaps)`);
  });
  return migrations;
}

/**
 * Applies the migrations the database has not seen, each in its own transaction, and records
 * them in `schema_migrations`. Forward only: a database newer than this kubetrail is refused.
 */
export function migrate(db: Database, migrations: Migration[], clock: Clock): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const newest = Math.max(0, ...applied);
  if (newest > migrations.length) {
    throw new Error(
      `the database has schema version ${newest}, newer than this kubetrail knows (${migrations.length}): upgrade kubetrail`,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date(clock()).toISOString());
    }).immediate();
    done.push(m.version);
  }
  return done;
}
