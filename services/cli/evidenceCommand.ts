import type { Config } from '../../shared/config.js';
import { archiveDirOf } from '../../shared/config.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { safeUrl } from '../../shared/storage/postgres/pgStore.js';
import { writeEvidence } from '../analyzer/evidence.js';
import { systemClock } from './clock.js';
import { usingStore } from './localStore.js';
import { verifyStore } from './verifyCommand.js';

/** `kubetrail pci evidence --out DIR`: the assessor's folder, from either store. Returns the items written. */
export async function evidenceCommand(config: Readonly<Config>, flags: { out: string; since: string; cluster?: string }): Promise<number> {
  return usingStore(config, 'write', async (store) => {
    const r = await writeEvidence(store, {
      dir: flags.out,
      cluster: flags.cluster ?? config.cluster,
      since: parseTimeBound(flags.since, '--since', systemClock()),
      nowMicros: systemClock() * 1000,
      retention: { days: config.retention.days, hotDays: config.retention.hotDays, archiveDir: archiveDirOf(config), ...(config.retention.deleteArchivesAfterDays !== undefined ? { deleteArchivesAfterDays: config.retention.deleteArchivesAfterDays } : {}) },
      idleDays: config.idle.days,
      storePath: config.storage.url ? safeUrl(config.storage.url) : config.database.path,
      verified: await verifyStore(config),
    });
    process.stdout.write(`wrote ${r.items} evidence items; start at ${r.index}\n`);
    return r.items;
  });
}
