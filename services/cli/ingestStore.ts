import type { Config } from '../../shared/config.js';
import { storeOptionsFrom } from '../../shared/config.js';
import type { BatchStore } from '../../shared/storage/port.js';
import { PgBatchStore } from '../../shared/storage/postgres/pgBatchStore.js';
import { openPgStore, type PgStore } from '../../shared/storage/postgres/pgStore.js';
import { loadRedactionKey } from '../../shared/storage/redactionKey.js';
import { StoreWriter } from '../../shared/storage/sqlite/write/storeWriter.js';
import { systemClock } from './clock.js';

/** The store a command that stores events writes to, with the key its pipeline redacts with. */
export interface IngestStore extends BatchStore {
  readonly redactionKey: Uint8Array;
  /** Waits for the writes in flight, then closes the store. */
  close(): Promise<void>;
}

/**
 * The configured store: PostgreSQL when storage.url names one (several kubetrails may write it at
 * once: they must share the redaction key, KUBETRAIL_REDACTION_KEY or the same key file), else
 * the SQLite database and its writer thread.
 */
export async function openIngestStore(config: Readonly<Config>, env: Record<string, string | undefined>): Promise<IngestStore> {
  if (!config.storage.url) return StoreWriter.open(config.database.path, { ...storeOptionsFrom(config, env), clock: systemClock });
  return (await openPgWriter(config, env)).writer;
}

/** A writer of the PostgreSQL database storage.url names, with the store (its pool) it closes when it closes. */
export async function openPgWriter(config: Readonly<Config>, env: Record<string, string | undefined>, maxConnections?: number): Promise<{ store: PgStore; writer: PgBatchStore }> {
  const options = storeOptionsFrom(config, env);
  const pg = await openPgStore(config.storage.url!, { clock: systemClock, maxConnections });
  try {
    const writer = await PgBatchStore.open(pg, {
      clock: systemClock,
      redactionKey: loadRedactionKey(null, options.redactionKey),
      quarantineMaxBytes: options.quarantineMaxBytes,
      pastDays: config.retention.hotDays,
      identityMap: options.identityMap,
      alertThrottleSeconds: options.alertThrottleSeconds,
    });
    return { store: pg, writer };
  } catch (err) {
    await pg.close();
    throw err;
  }
}
