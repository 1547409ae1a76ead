import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from 'better-sqlite3';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * Where the key of the redaction markers comes from: given (KUBETRAIL_REDACTION_KEY), or a file.
 * It is never in the store: with it, a copy of the database would let anyone test guesses of a
 * secret against its marker offline.
 */
export type RedactionKeySource = { key: Buffer; from: string } | { file: string };

/** Parses a key given as text: 64 or more hexadecimal digits. */
export function parseRedactionKey(text: string, from: string): Buffer {
  const hex = text.trim();
  if (!/^(?:[0-9a-fA-F]{2}){32,}$/.test(hex)) throw new ConfigError(`${from}: expected a key of at least 64 hexadecimal digits (openssl rand -hex 32)`);
  return Buffer.from(hex, 'hex');
}

/**
 * The redaction key, from its source. A key file that does not exist yet is created (0600, in a
 * 0700 folder) with the key an earlier kubetrail kept in the SQLite store, else a new random one;
 * the store's copy is then erased (secure_delete), so the database holds no key. `db` is null for
 * a store that never held one (PostgreSQL).
 */
export function loadRedactionKey(db: Database | null, source: RedactionKeySource): Buffer {
  const stored = (db?.prepare("SELECT value FROM meta WHERE key = 'redaction_key'").pluck().get() ?? undefined) as Buffer | undefined;
  let key: Buffer;
  if ('key' in source) key = source.key;
  else {
    let text: string | null = null;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`redaction key file ${source.file}: cannot read it (${errorMessage(err)})`);
    }
    if (text !== null) key = parseRedactionKey(text, `redaction key file ${source.file}`);
    else {
      key = stored ?? randomBytes(32);
      mkdirSync(dirname(source.file), { recursive: true, mode: 0o700 });
      // wx: two writers starting at once must not each make a key of their own.
      try {
        writeFileSync(source.file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`redaction key file ${source.file}: cannot create it (${errorMessage(err)})`);
        return loadRedactionKey(db, source);
      }
      chmodSync(source.file, 0o600);
    }
  }
  if (stored && db) {
    db.pragma('secure_delete = ON');
    db.prepare("DELETE FROM meta WHERE key = 'redaction_key'").run();
    db.pragma('secure_delete = OFF');
  }
  return key;
}
