import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { loadFiles } from '../../shared/rbac/loadFiles.js';
import type { Proposal, RecommendOptions, Target } from '../../shared/rbac/recommend.js';
import { parseServiceAccountName } from '../../shared/rbac/subjects.js';
import { recommendationText } from '../../shared/analysis/recommendationText.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { rebuildUsageRollups } from '../../shared/storage/sqlite/tables/usageRollups.js';
import { openPgStore } from '../../shared/storage/postgres/pgStore.js';
import { rebuildPgUsageRollups } from '../../shared/storage/postgres/pgUsage.js';
import { blindSpotsOf, observedTargets, prepareRecommendations, recommendFor, staleAccounts, usageReport, type StateSource, type WindowOptions } from '../../shared/analysis/usageWindow.js';
import { reportProblems, snapshotId, type StateFlags } from './rbacCommand.js';
import { formatReport, type ReportFormat } from '../analyzer/reportOutput.js';
import { usingStore } from './localStore.js';
import { writeRows, type OutputFormat } from './output.js';

export interface WindowFlags extends StateFlags {
  since: string;
  until?: string;
  namespace?: string;
}

export function windowFrom(config: Readonly<Config>, flags: WindowFlags): WindowOptions {
  const now = systemClock();
  const since = parseTimeBound(flags.since, '--since', now);
  const until = flags.until === undefined ? now * 1000 : parseTimeBound(flags.until, '--until', now);
  if (since >= until) throw new InputError(`--since (${flags.since}) must be before --until (${flags.until ?? 'now'})`);
  return { cluster: flags.cluster ?? config.cluster, since, until, minDays: config.rbac.minWindowDays, ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}) };
}

/** -f files, a snapshot id, or the cluster's newest snapshot. */
export function sourceFrom(flags: StateFlags): StateSource {
  if (flags.file && flags.file.length > 0) {
    const loaded = loadFiles(flags.file);
    reportProblems(loaded);
    return { kind: 'files', state: loaded.state, origin: `files ${loaded.files.join(', ')}` };
  }
  if (flags.snapshot !== undefined) return { kind: 'snapshot', id: snapshotId(flags.snapshot, '--snapshot') };
  return { kind: 'snapshot' };
}

/** `kubetrail rbac report`: granted versus used over the window, per subject. */
export async function reportCommand(config: Readonly<Config>, flags: WindowFlags & { subject?: string[]; output: ReportFormat }): Promise<void> {
  await usingStore(config, 'write', async (store) => {
    const report = await usageReport(store, sourceFrom(flags), { ...windowFrom(config, flags), ...(flags.subject ? { subjects: flags.subject } : {}) });
    process.stdout.write(formatReport(report, flags.output));
  });
}

/** `kubetrail rbac stale`: bound users and service accounts idle for idle.days (PCI DSS 8.2.6). */
export async function staleCommand(config: Readonly<Config>, flags: StateFlags & { days?: string; output: OutputFormat }): Promise<number> {
  const idleDays = flags.days === undefined ? config.idle.days : Number(flags.days);
  if (!Number.isInteger(idleDays) || idleDays < 1) throw new InputError(`--days: expected a whole number of days, got '${flags.days}'`);
  return usingStore(config, 'write', async (store) => {
    const { origin, accounts } = await staleAccounts(store, sourceFrom(flags), { cluster: flags.cluster ?? config.cluster, nowMicros: systemClock() * 1000, idleDays });
    const rows = accounts.map((a) => ({ status: a.status, kind: a.kind, name: a.name, lastSeen: a.lastSeen === null ? null : new Date(a.lastSeen / 1000).toISOString(), idleDays: a.idleDays, bindings: a.bindings.join(', '), note: a.note }));
    if (flags.output === 'table') process.stdout.write(`${origin}; idle after ${idleDays} days (PCI DSS 8.2.6)\n`);
    await writeRows(process.stdout, rows, ['status', 'kind', 'name', 'lastSeen', 'idleDays', 'bindings', 'note'], flags.output);
    return accounts.filter((a) => a.status === 'stale-account').length;
  });
}

/** `kubetrail rbac rollups --rebuild`: the daily usage rollups, rebuilt from the stored events. */
export async function rollupsCommand(config: Readonly<Config>, flags: { rebuild?: boolean }): Promise<void> {
  if (!flags.rebuild) throw new InputError('nothing to do: `kubetrail rbac rollups --rebuild` rebuilds the usage rollups from the stored events');
  const started = systemClock();
  const r = config.storage.url ? await rebuildPg(config.storage.url) : rebuildSqlite(config.database.path);
  process.stdout.write(`rebuilt the usage rollups: ${r.actions} actions in ${r.rows} daily rows (${((systemClock() - started) / 1000).toFixed(1)} s)\n`);
}

function rebuildSqlite(path: string): { actions: number; rows: number } {
  const store = openStore(path, { clock: systemClock });
  try {
    return rebuildUsageRollups(store.db);
  } finally {
    store.close();
  }
}

async function rebuildPg(url: string): Promise<{ actions: number; rows: number }> {
  const pg = await openPgStore(url, { clock: systemClock });
  try {
    return (await rebuildPgUsageRollups(pg.pool))!;
  } finally {
    await pg.close();
  }
}

export interface RecommendFlags extends WindowFlags {
  user?: string;
  serviceaccount?: string;
  group?: string;
  all?: boolean;
  includeDenied?: boolean;
  failOnRegression?: boolean;
  expandVerbs: boolean;
  expandMultiNamespace: boolean;
  expandMultiName: boolean;
  proposal?: string;
}

function targetsFrom(flags: RecommendFlags): Target[] | 'all' {
  const given = [flags.user, flags.serviceaccount, flags.group, flags.all ? 'all' : undefined].filter((v) => v !== undefined);
  if (given.length !== 1) throw new InputError('give exactly one of --user U, --serviceaccount NS:NAME, --group G or --all');
  if (flags.all) return 'all';
  if (flags.user !== undefined) {
    const sa = parseServiceAccountName(flags.user);
    return [sa ? { kind: 'ServiceAccount', ...sa } : { kind: 'User', name: flags.user }];
  }
  if (flags.group !== undefined) return [{ kind: 'Group', name: flags.group }];
  const [namespace, name, ...rest] = flags.serviceaccount!.split(':');
  if (!namespace || !name || rest.length > 0) throw new InputError(`--serviceaccount: expected NAMESPACE:NAME, got '${flags.serviceaccount}'`);
  return [{ kind: 'ServiceAccount', namespace, name }];
}

/** `kubetrail rbac recommend`: the smallest RBAC for what was observed, with the dry run. Returns the exit code. */
export async function recommendCommand(config: Readonly<Config>, flags: RecommendFlags): Promise<number> {
  const targets = targetsFrom(flags);
  const window = windowFrom(config, flags);
  let proposal: Proposal | undefined;
  if (flags.proposal !== undefined) {
    if (targets === 'all') throw new InputError('--proposal checks one subject: give --user, --serviceaccount or --group');
    const loaded = loadFiles([flags.proposal]);
    if (loaded.problems.length > 0) throw new InputError(loaded.problems.map((p) => `${p.position}: ${p.reason}`).join('\n'));
    const s = loaded.state;
    proposal = { clusterRoles: s.clusterRoles, clusterRoleBindings: s.clusterRoleBindings, roles: s.roles, roleBindings: s.roleBindings };
  }
  return usingStore(config, 'write', async (store) => {
    // Without a snapshot (and without -f), recommend from the observed activity alone.
    const wantState = Boolean(flags.file?.length) || flags.snapshot !== undefined || (await store.snapshots.has(window.cluster));
    const prepared = await prepareRecommendations(store, wantState ? sourceFrom(flags) : null, window);
    const blindSpots = await blindSpotsOf(store, window, 'rbac recommend');
    const options: RecommendOptions & { includeDenied: boolean; proposal?: Proposal } = {
      expandVerbs: flags.expandVerbs,
      expandMultiNamespace: flags.expandMultiNamespace,
      expandMultiName: flags.expandMultiName,
      includeDenied: Boolean(flags.includeDenied),
      ...(proposal ? { proposal } : {}),
    };
    const list = targets === 'all' ? observedTargets(prepared, options.includeDenied) : targets;
    if (list.length === 0) process.stdout.write('# no subject with requests the apiserver allowed through RBAC in the window\n');
    let regressions = 0;
    const texts = list.map((t) => {
      const r = recommendFor(prepared, t, options);
      regressions += r.dryRun?.regressionCount ?? 0;
      return recommendationText(r, window, options.includeDenied, blindSpots);
    });
    process.stdout.write(texts.join('---\n'));
    return flags.failOnRegression && regressions > 0 ? 1 : 0;
  });
}
