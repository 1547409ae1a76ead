import type { Config } from '../../shared/config.js';
import { evaluateCoverage } from '../../shared/analysis/coverage.js';
import { formatMicroTime } from '../../shared/audit/time.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { systemClock } from './clock.js';
import { usingStore } from './localStore.js';
import { COVERAGE_SAMPLE } from '../../shared/storage/sqlite/queries/coverageQuery.js';
import { writeRows, type OutputFormat } from './output.js';

/** `kubetrail coverage`: what the stored events of a window let kubetrail see in a cluster. Returns the rows shown. */
export async function coverageCommand(config: Readonly<Config>, flags: { cluster?: string; since: string; output: OutputFormat }): Promise<number> {
  const now = systemClock();
  const window = { cluster: flags.cluster ?? config.cluster, since: parseTimeBound(flags.since, '--since', now), until: now * 1000 };
  return usingStore(config, 'read', async (store) => {
    const stats = await store.status.coverage(window);
    const items = evaluateCoverage(stats);
    if (flags.output === 'table') {
      const [none, metadata, request, full] = stats.levels;
      process.stdout.write(
        `cluster ${window.cluster}, ${formatMicroTime(window.since)} to now: ${stats.events}${stats.events === COVERAGE_SAMPLE ? ' (the newest)' : ''} events (levels: ${metadata} Metadata, ${request} Request, ${full} RequestResponse${none ? `, ${none} None` : ''}); ` +
          `${stats.reads} reads, ${stats.writes} writes (${stats.writesWithBody} with their body); ${stats.usersWithGroups} of ${stats.users} users with groups\n`,
      );
    }
    return writeRows(process.stdout, items.map((i) => ({ ...i, why: i.why.join('; ') })), ['state', 'kind', 'name', 'why', 'fix'], flags.output);
  });
}
