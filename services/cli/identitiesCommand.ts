import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { IDENTITY_COLUMNS, queryIdentities, type IdentityRow } from '../../shared/storage/sqlite/queries/identityQuery.js';
import { openExistingStore } from './eventsCommand.js';
import { writeRows, type OutputFormat } from './output.js';
import { remoteRows, type Remote } from './remote.js';

export interface IdentitiesFlags {
  since?: string;
  until?: string;
  output: OutputFormat;
}

/** `kubetrail identities`: every identity seen, who is behind it, with what credentials. Returns the rows written. */
export async function identitiesCommand(config: Readonly<Config>, flags: IdentitiesFlags, remote: Remote | null): Promise<number> {
  const now = systemClock();
  const since = flags.since === undefined ? undefined : parseTimeBound(flags.since, '--since', now);
  const until = flags.until === undefined ? undefined : parseTimeBound(flags.until, '--until', now);
  if (remote) return writeRows(process.stdout, remoteRows<IdentityRow>(remote, '/identities', { since: flags.since, until: flags.until }), IDENTITY_COLUMNS, flags.output);
  const store = openExistingStore(config);
  try {
    return await writeRows(process.stdout, queryIdentities(store.db, { since, until }), IDENTITY_COLUMNS, flags.output);
  } finally {
    store.close();
  }
}
