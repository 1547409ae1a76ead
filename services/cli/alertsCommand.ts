import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { SEVERITIES, type Severity } from '../../shared/detect/types.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { ALERT_COLUMNS, type AlertFilter, type AlertRow, type AlertStatus } from '../../shared/storage/sqlite/queries/alertQuery.js';
import { parseLimit } from './eventsCommand.js';
import { usingStore } from './localStore.js';
import { type Remote, remoteRows } from './remote.js';
import { ALERT_DOCUMENTS } from '../../shared/siem/siemDocuments.js';
import { writeRows, type RowOutput } from './output.js';

export interface AlertsFlags {
  since?: string;
  severity?: Severity;
  rule?: string;
  status?: AlertStatus;
  cluster?: string;
  limit: string;
  output: RowOutput;
  failOnSeverity?: Severity;
}

/**
 * `kubetrail alerts`: alerts raised at ingest, newest first, from the store or a kubetrail
 * server. The exit code is 1 when --fail-on-severity is given and an alert shown is at or above it.
 */
export async function alertsCommand(config: Readonly<Config>, flags: AlertsFlags, remote: Remote | null): Promise<{ rows: number; exitCode: number }> {
  const limit = parseLimit(flags.limit);
  const filter: AlertFilter = { limit };
  if (flags.since !== undefined) filter.since = parseTimeBound(flags.since, '--since', systemClock());
  if (flags.severity !== undefined) filter.severity = flags.severity;
  if (flags.rule !== undefined) filter.rule = flags.rule;
  if (flags.status !== undefined) filter.status = flags.status;
  if (flags.cluster !== undefined) filter.cluster = flags.cluster;
  let worst = -1;
  async function* seen(rows: Iterable<AlertRow> | AsyncIterable<AlertRow>) {
    for await (const r of rows) {
      worst = Math.max(worst, SEVERITIES.indexOf(r.severity));
      yield r;
    }
  }
  let rows: number;
  if (remote) {
    const params = { since: flags.since, severity: flags.severity, rule: flags.rule, status: flags.status, cluster: flags.cluster, limit: limit ? String(limit) : undefined };
    rows = await writeRows(process.stdout, seen(remoteRows<AlertRow>(remote, '/alerts', params)), ALERT_COLUMNS, flags.output, ALERT_DOCUMENTS);
  } else {
    rows = await usingStore(config, 'read', (store) => writeRows(process.stdout, seen(store.alerts.list(filter)), ALERT_COLUMNS, flags.output, ALERT_DOCUMENTS));
  }
  return { rows, exitCode: flags.failOnSeverity !== undefined && worst >= SEVERITIES.indexOf(flags.failOnSeverity) ? 1 : 0 };
}
