import type { Database } from 'better-sqlite3';
import { quarantineForm } from '../../../audit/quarantineForm.js';
import type { Redactor } from '../../../audit/redact.js';

/**
 * Quarantine rows an earlier kubetrail kept verbatim (no raw_sha256 yet) are redacted in place,
 * once: with secure_delete on, so that no free page keeps the old bytes, and the WAL truncated
 * after. Their SHA-256 is unknown (the whole input was never hashed): marked ''.
 */
export function redactOldQuarantine(db: Database, redact: Redactor): number {
  const old = db.prepare('SELECT id, raw FROM quarantine WHERE raw_sha256 IS NULL').all() as { id: number; raw: Buffer | string | null }[];
  if (old.length === 0) return 0;
  const secureDelete = db.pragma('secure_delete', { simple: true }) as number;
  db.pragma('secure_delete = ON');
  try {
    const update = db.prepare("UPDATE quarantine SET raw = ?, raw_sha256 = '' WHERE id = ?");
    db.transaction(() => {
      for (const r of old) update.run(quarantineForm(r.raw ?? '', redact, Number.MAX_SAFE_INTEGER).kept, r.id);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.pragma(`secure_delete = ${secureDelete}`);
  }
  return old.length;
}
