import type { Config } from '../../shared/config.js';
import { SEVERITIES, type Severity } from '../../shared/detect/types.js';
import { InputError } from '../../shared/errors.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { ALERT_COLUMNS, queryAlerts, type AlertFilter } from '../../shared/storage/alertQuery.js';
import { openExistingStore } from './eventsCommand.js';
import { writeRows, type OutputFormat } from './output.js';

export interface AlertsFlags {
  since?: string;
  severity?: Severity;
  rule?: string;
  limit: string;
  output: OutputFormat;
  failOnSeverity?: Severity;
}

/**
 * `kubetrail alerts`: alerts raised at ingest, newest first. Returns the exit code: 1 when
 * --fail-on-severity is given and an alert shown is at or above it.
 */
export async function alertsCommand(config: Readonly<Config>, flags: AlertsFlags): Promise<number> {
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new InputError(`--limit: expected a whole number (0 = all), got '${flags.limit}'`);
  const filter: AlertFilter = { limit };
  if (flags.since !== undefined) filter.since = parseTimeBound(flags.since, '--since', Date.now());
  if (flags.severity !== undefined) filter.severity = flags.severity;
  if (flags.rule !== undefined) filter.rule = flags.rule;
  const store = openExistingStore(config);
  let worst = -1;
  try {
    const rows = queryAlerts(store.db, filter);
    const seen = (function* () {
      for (const r of rows) {
        worst = Math.max(worst, SEVERITIES.indexOf(r.severity));
        yield r;
      }
    })();
    await writeRows(process.stdout, seen, ALERT_COLUMNS, flags.output);
  } finally {
    store.close();
  }
  return flags.failOnSeverity !== undefined && worst >= SEVERITIES.indexOf(flags.failOnSeverity) ? 1 : 0;
}
