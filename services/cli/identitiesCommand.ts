import type { Config } from '../../shared/config.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { IDENTITY_COLUMNS, queryIdentities } from '../../shared/storage/identityQuery.js';
import { openExistingStore } from './eventsCommand.js';
import { writeRows, type OutputFormat } from './output.js';

export interface IdentitiesFlags {
  since?: string;
  until?: string;
  output: OutputFormat;
}

/** `kubetrail identities`: every identity seen, who is behind it, with what credentials. */
export async function identitiesCommand(config: Readonly<Config>, flags: IdentitiesFlags): Promise<void> {
  const now = Date.now();
  const since = flags.since === undefined ? undefined : parseTimeBound(flags.since, '--since', now);
  const until = flags.until === undefined ? undefined : parseTimeBound(flags.until, '--until', now);
  const store = openExistingStore(config);
  try {
    await writeRows(process.stdout, queryIdentities(store.db, { since, until }), IDENTITY_COLUMNS, flags.output);
  } finally {
    store.close();
  }
}
