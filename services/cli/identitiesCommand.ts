import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { IDENTITY_COLUMNS, type IdentityRow } from '../../shared/storage/sqlite/queries/identityQuery.js';
import { usingStore } from './localStore.js';
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
  return usingStore(config, 'read', (store) => writeRows(process.stdout, store.identities.list({ since, until }), IDENTITY_COLUMNS, flags.output));
}
