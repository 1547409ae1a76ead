import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { Authorizer } from '../../shared/rbac/authorizer.js';
import { PERMISSION_COLUMNS, WHO_CAN_COLUMNS, canAnswer, permissionRows, subjectUser, whoCanRows } from '../../shared/rbac/answers.js';
import { diffStates } from '../../shared/rbac/diffStates.js';
import { loadCluster, type ClusterSource } from '../../shared/rbac/loadCluster.js';
import { loadFiles } from '../../shared/rbac/loadFiles.js';
import type { ParsedObjects } from '../../shared/rbac/parseObjects.js';
import { effectivePermissions } from '../../shared/rbac/permissions.js';
import { impersonatedUser } from '../../shared/rbac/subjects.js';
import type { RbacState } from '../../shared/rbac/types.js';
import type { SnapshotSummary } from '../../shared/storage/sqlite/tables/rbacSnapshots.js';
import { usingStore } from './localStore.js';
import { writeRows, type OutputFormat } from './output.js';

/** Where an `rbac` command takes its RBAC from: files (-f), a snapshot by id, or the cluster's latest. */
export interface StateFlags {
  file?: string[];
  snapshot?: string;
  cluster?: string;
}

interface LoadedState {
  state: RbacState;
  /** What was evaluated, for the user: a snapshot or the files. */
  origin: string;
}

export function snapshotId(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new InputError(`${what}: expected a snapshot id (a number; \`kubetrail rbac snapshots\` lists them), got '${text}'`);
  return Number(text);
}

export function reportProblems(parsed: ParsedObjects): void {
  for (const p of parsed.problems) process.stderr.write(`kubetrail: ${p.position}: ${p.reason}\n`);
}

export async function stateFrom(config: Readonly<Config>, flags: StateFlags): Promise<LoadedState> {
  if (flags.file && flags.file.length > 0) {
    const loaded = loadFiles(flags.file);
    reportProblems(loaded);
    return { state: loaded.state, origin: `files ${loaded.files.join(', ')}` };
  }
  const cluster = flags.cluster ?? config.cluster;
  return usingStore(config, 'write', async (store) => {
    const snap = flags.snapshot !== undefined ? await store.snapshots.get(snapshotId(flags.snapshot, '--snapshot')) : await store.snapshots.latest(cluster);
    if (!snap) {
      throw new InputError(
        `no RBAC snapshot of cluster '${cluster}' in the store: run \`kubetrail rbac load FILE…\` or \`kubetrail rbac load --from-cluster\` first, or evaluate files with -f FILE`,
      );
    }
    return { state: snap.state, origin: `snapshot ${snap.id} of ${snap.cluster} (${new Date(snap.takenAt / 1000).toISOString()})` };
  });
}

export interface LoadFlags extends ClusterSource {
  fromCluster?: boolean;
  cluster?: string;
  output: 'text' | 'json';
}

/** `kubetrail rbac load FILE…|--from-cluster`: stores a snapshot and prints what it holds. */
export async function loadCommand(config: Readonly<Config>, files: string[], flags: LoadFlags): Promise<void> {
  if (flags.fromCluster === (files.length > 0)) throw new InputError('give files to load, or --from-cluster (not both)');
  let parsed: ParsedObjects;
  let source: string;
  if (flags.fromCluster) {
    const live = await loadCluster(flags);
    parsed = live;
    source = `cluster: ${live.source}`;
  } else {
    const loaded = loadFiles(files);
    parsed = loaded;
    source = `files: ${loaded.files.join(', ')}`;
  }
  reportProblems(parsed);
  const s = parsed.state;
  const summary: SnapshotSummary = {
    clusterRoles: s.clusterRoles.length,
    roles: s.roles.length,
    clusterRoleBindings: s.clusterRoleBindings.length,
    roleBindings: s.roleBindings.length,
    serviceAccounts: s.serviceAccounts.length,
    apiResources: s.discovery?.length ?? 0,
    skipped: parsed.skipped,
    problems: parsed.problems,
    aggregationPending: new Authorizer(s).aggregationPending,
  };
  const info = await usingStore(config, 'write', (store) => store.snapshots.save({ cluster: flags.cluster ?? config.cluster, takenAt: systemClock() * 1000, source, state: s, summary }));
  if (flags.output === 'json') {
    process.stdout.write(JSON.stringify(info) + '\n');
    return;
  }
  const skipped = Object.entries(summary.skipped).map(([k, n]) => `${n} ${k}`);
  process.stdout.write(
    [
      `snapshot ${info.id} of cluster ${info.cluster} from ${source}`,
      `  ${summary.clusterRoles} ClusterRoles, ${summary.roles} Roles, ${summary.clusterRoleBindings} ClusterRoleBindings, ${summary.roleBindings} RoleBindings, ${summary.serviceAccounts} ServiceAccounts` +
        (summary.apiResources > 0 ? `, ${summary.apiResources} API resources from discovery` : ''),
      ...(skipped.length > 0 ? [`  skipped (not RBAC): ${skipped.join(', ')}`] : []),
      ...(summary.problems.length > 0 ? [`  ${summary.problems.length} object(s) could not be read (above)`] : []),
      ...(summary.aggregationPending.length > 0
        ? [`  aggregation pending (stored rules differ from the aggregated ones; evaluated as aggregated): ${summary.aggregationPending.join(', ')}`]
        : []),
    ].join('\n') + '\n',
  );
}

export async function snapshotsCommand(config: Readonly<Config>, flags: { cluster?: string; output: OutputFormat }): Promise<void> {
  await usingStore(config, 'write', async (store) => {
    const rows = (await store.snapshots.list(flags.cluster)).map((s) => ({
      id: s.id,
      cluster: s.cluster,
      takenAt: new Date(s.takenAt / 1000).toISOString(),
      source: s.source,
      clusterRoles: s.summary.clusterRoles,
      roles: s.summary.roles,
      clusterRoleBindings: s.summary.clusterRoleBindings,
      roleBindings: s.summary.roleBindings,
      serviceAccounts: s.summary.serviceAccounts,
      problems: s.summary.problems.length,
    }));
    await writeRows(process.stdout, rows, ['id', 'cluster', 'takenAt', 'clusterRoles', 'roles', 'clusterRoleBindings', 'roleBindings', 'serviceAccounts', 'problems', 'source'], flags.output);
  });
}

/** `kubetrail rbac diff A B`: A and B are snapshot ids, or files and folders to read. */
export async function diffCommand(config: Readonly<Config>, a: string, b: string, flags: { output: OutputFormat }): Promise<number> {
  const side = async (x: string) => (await (/^\d+$/.test(x) ? stateFrom(config, { snapshot: x }) : stateFrom(config, { file: [x] }))).state;
  const changes = diffStates(await side(a), await side(b)).map((c) => ({ ...c, details: c.details.join('; ') }));
  await writeRows(process.stdout, changes, ['change', 'kind', 'namespace', 'name', 'details'], flags.output);
  return 0;
}

export interface RequestFlags extends StateFlags {
  subresource?: string;
  namespace?: string;
}

export interface CanFlags extends RequestFlags {
  as: string;
  asGroup?: string[];
  explain?: boolean;
}

/** `kubetrail rbac can`: prints yes or no; 0 when allowed, 1 when not (like kubectl auth can-i). */
export async function canCommand(config: Readonly<Config>, verb: string, target: string, flags: CanFlags): Promise<number> {
  const { state, origin } = await stateFrom(config, flags);
  const answer = canAnswer(state, verb, target, flags, impersonatedUser(flags.as, flags.asGroup ?? []), origin);
  process.stdout.write([answer.allowed ? 'yes' : 'no', ...(flags.explain ? answer.explanation.map((l) => `  ${l}`) : [])].join('\n') + '\n');
  return answer.allowed ? 0 : 1;
}

/** `kubetrail rbac who-can`: the subjects allowed, with the binding path of each. */
export async function whoCanCommand(config: Readonly<Config>, verb: string, target: string, flags: RequestFlags & { output: OutputFormat }): Promise<void> {
  const { state } = await stateFrom(config, flags);
  await writeRows(process.stdout, whoCanRows(state, verb, target, flags), [...WHO_CAN_COLUMNS], flags.output);
}

export interface PermissionsFlags extends StateFlags {
  user?: string;
  group?: string[];
  serviceaccount?: string;
  namespace?: string;
  output: OutputFormat;
}

/** `kubetrail rbac permissions`: every rule that reaches a user, service account or group, with its binding path. */
export async function permissionsCommand(config: Readonly<Config>, flags: PermissionsFlags): Promise<void> {
  const { state } = await stateFrom(config, flags);
  const perms = effectivePermissions(new Authorizer(state), subjectUser(flags), flags.namespace === undefined ? 'all' : [flags.namespace]);
  if (flags.output === 'json' || flags.output === 'ndjson') {
    process.stdout.write(JSON.stringify(perms, null, flags.output === 'json' ? 2 : undefined) + '\n');
    return;
  }
  if (perms.bypass) process.stderr.write('kubetrail: in system:masters: every request is allowed before RBAC is consulted; the rules below are what RBAC alone grants\n');
  await writeRows(process.stdout, permissionRows(perms), [...PERMISSION_COLUMNS], flags.output);
}
