import { systemClock } from './clock.js';
import { existsSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { Config } from '../../shared/config.js';
import { InputError, NotFoundError, errorMessage } from '../../shared/errors.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { createSelfAuditRecorder } from '../../shared/storage/sqlite/tables/selfAudit.js';
import { recordPgSelfAudit } from '../../shared/storage/postgres/pgSelfAudit.js';
import { openPgStore } from '../../shared/storage/postgres/pgStore.js';

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * Runs a query of the local store and records it in kubetrail's own audit trail (OS user, host,
 * command line, rows, exit code), whether it succeeds or fails. A query of a remote server is
 * recorded by that server instead. When the trail cannot be written (a read-only copy of the
 * store), the query still answers, with a warning.
 */
export async function auditedQuery(config: Readonly<Config>, action: string, run: () => Promise<{ rows: number; exitCode?: number }>): Promise<number> {
  let rows: number | null = null;
  let status = 0;
  let detail: string | null = null;
  try {
    const r = await run();
    rows = r.rows;
    status = r.exitCode ?? 0;
    return status;
  } catch (err) {
    status = err instanceof InputError || err instanceof NotFoundError ? 2 : 1;
    detail = errorMessage(err);
    throw err;
  } finally {
    const entry = { channel: 'cli' as const, actor: osUser(), source: hostname(), action, query: process.argv.slice(2), rows, status, detail };
    if (config.storage.url) {
      try {
        const pg = await openPgStore(config.storage.url, { clock: systemClock });
        try {
          await recordPgSelfAudit(pg.pool, systemClock, entry);
        } finally {
          await pg.close();
        }
      } catch (err) {
        process.stderr.write(`kubetrail: warning: this query is not in the self-audit: ${errorMessage(err)}\n`);
      }
    } else if (existsSync(config.database.path)) {
      try {
        const store = openStore(config.database.path, { clock: systemClock });
        try {
          createSelfAuditRecorder(store.db, systemClock)(entry);
        } finally {
          store.close();
        }
      } catch (err) {
        process.stderr.write(`kubetrail: warning: this query is not in the self-audit: ${errorMessage(err)}\n`);
      }
    }
  }
}
