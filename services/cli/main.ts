#!/usr/bin/env node
import { systemClock } from './clock.js';
import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { loadConfig, type Config } from '../../shared/config.js';
import { ROLES, newToken, type Role } from '../../shared/access.js';
import { SEVERITIES } from '../../shared/detect/types.js';
import { ALERT_STATUSES } from '../../shared/storage/sqlite/queries/alertQuery.js';
import { ConfigError, InputError, NotFoundError, errorMessage } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { GAP_COLUMNS } from '../../shared/storage/sqlite/tables/pipelineGaps.js';
import { usingStore } from './localStore.js';
import { alertsCommand } from './alertsCommand.js';
import { checkoutCommand, closeCheckoutCommand, listCheckoutsCommand } from './breakglassCommand.js';
import { eventsCommand, historyCommand } from './eventsCommand.js';
import { remoteFrom, type Remote } from './remote.js';
import { archiveListCommand, archiveRestoreCommand, archiveVerifyCommand, retentionRunCommand } from './retentionCommand.js';
import { reviewExportCommand, reviewListCommand, reviewRecordCommand, reviewShowCommand } from './reviewCommand.js';
import { auditedQuery } from './selfAudit.js';
import { identitiesCommand } from './identitiesCommand.js';
import { ingestCommand } from './ingestCommand.js';
import { OUTPUT_FORMATS, ROW_OUTPUTS, writeRows, type OutputFormat } from './output.js';
import { canCommand, diffCommand, loadCommand, permissionsCommand, snapshotsCommand, whoCanCommand } from './rbacCommand.js';
import { recommendCommand, reportCommand, rollupsCommand, staleCommand } from './usageCommand.js';
import { REPORT_FORMATS } from '../analyzer/reportOutput.js';
import { REVIEW_FORMATS } from '../analyzer/reviewOutput.js';
import { evidenceCommand } from './evidenceCommand.js';
import { coverageCommand } from './coverageCommand.js';
import { policyCheckCommand } from './policyCommand.js';
import { rulesCheckCommand } from './rulesCommand.js';
import { verifyCommand } from './verifyCommand.js';

/**
 * The composition root: flags → configuration → services. The only module that reads the
 * environment or has effects at start.
 */
// Whatever kubetrail creates — the store, its WAL, archives, manifests, key files — its owner
// alone may read: they hold a cluster's audit trail.
process.umask(0o077);

const program = new Command('kubetrail')
  .description('Kubernetes audit events turned into answers: who did what, with which credential, under which permission.')
  .showHelpAfterError()
  .exitOverride();

interface CommonFlags {
  db?: string;
  config?: string;
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--db <path>', 'SQLite database (default ./data/kubetrail.db, or KUBETRAIL_DB)')
    .option('--config <file>', 'configuration file (default KUBETRAIL_CONFIG, or ./kubetrail.yaml when present)');
}

/** The configuration the flags name: the store is a SQLite file, or PostgreSQL when --db or storage.url gives a postgres:// URL. */
function configFrom(flags: CommonFlags & { listen?: string }): Readonly<Config> {
  return loadConfig({ file: flags.config, overrides: { databasePath: flags.db, listen: flags.listen } });
}

/** What a command's work returns: the rows it showed or changed, and its exit code when not 0. */
type CommandResult = number | { rows: number; exitCode?: number };

const asResult = (r: CommandResult) => (typeof r === 'number' ? { rows: r } : r);

/**
 * The action of a command on the local store: loads the configuration its flags name, records
 * the command in the self-audit as `action` (rows, exit status, error) and sets the exit code.
 * `run` gets the configuration, the flags, and the command's arguments.
 */
function audited<F extends CommonFlags, A extends string[] = []>(action: string, run: (config: Readonly<Config>, flags: F, ...args: A) => CommandResult | Promise<CommandResult>) {
  return async (...received: unknown[]): Promise<void> => {
    // commander passes the arguments, then the flags, then the command itself.
    const flags = received.at(-2) as F;
    const config = configFrom(flags);
    process.exitCode = await auditedQuery(config, action, async () => asResult(await run(config, flags, ...(received.slice(0, -2) as A))));
  };
}

withCommon(program.command('serve'))
  .description('run the webhook receiver and Kafka consumer, the query API and the alerter')
  .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080, or KUBETRAIL_LISTEN)')
  .option('--services <list>', 'services to run, comma-separated: ingest, api, alerter', 'ingest,api,alerter')
  .option('--relay-to-kafka', 'publish webhook batches to Kafka (kafka.brokers) instead of storing them')
  .option('--insecure-no-auth', 'serve the query API without tokens on a non-loopback address (anyone who reaches it reads the store)')
  .action(async (flags: CommonFlags & { listen?: string; services: string; relayToKafka?: boolean; insecureNoAuth?: boolean }) => {
    const config = loadConfig({ file: flags.config, overrides: { databasePath: flags.db, listen: flags.listen, relayToKafka: flags.relayToKafka } });
    // Loaded when serving only: the HTTP, Kafka and metrics libraries would slow every other command's start.
    const { parseServices, serve } = await import('./serve.js');
    const services = parseServices(flags.services);
    const log = createLogger(config.log.level);
    const running = await serve(config, services, log, { insecureNoAuth: flags.insecureNoAuth });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      running.stop().then(
        () => process.exit(0),
        (err) => {
          log.error({ err: errorMessage(err) }, 'stop failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('demo')
  .description('writes a realistic day of one cluster\'s audit log with an incident woven in, stores it with an RBAC snapshot in a store of its own, and serves the console on it')
  .option('--db <path>', 'the demo\'s store (must not exist)', 'kubetrail-demo/kubetrail.db')
  .option('--hours <n>', 'hours of audit log, ending now', '24')
  .option('--rate <n>', 'requests per second of the generated cluster', '2')
  .option('--listen <host:port>', 'address to serve the console on', '127.0.0.1:8080')
  .option('--no-serve', 'store the demo and print how to serve it, without serving')
  .action(async (flags: { db: string; hours: string; rate: string; listen: string; serve: boolean }) => {
    const { demoCommand, demoGuide } = await import('./demoCommand.js');
    const { config, configFile } = await demoCommand(flags, systemClock);
    if (!flags.serve) {
      process.stdout.write(demoGuide(null, configFile));
      return;
    }
    const { serve } = await import('./serve.js');
    const log = createLogger('warn');
    const running = await serve(config, ['ingest', 'api', 'alerter'], log);
    process.stdout.write(demoGuide(running.url, configFile));
    const stop = () => void running.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

withCommon(program.command('ingest'))
  .description('store audit events from log files (JSON lines, EventList JSON, .gz) or - for stdin')
  .argument('<files...>', 'files to read; - reads standard input')
  .option('--cluster <name>', 'cluster the events came from (default: config cluster)')
  .option('--follow', 'keep reading a live log-backend file across rotation; resumes after a restart')
  .addOption(new Option('--output <format>', 'summary format').choices(['text', 'json']).default('text'))
  .action(async (files: string[], flags: CommonFlags & { cluster?: string; follow?: boolean; output: 'text' | 'json' }) => {
    const config = configFrom(flags);
    process.exitCode = await ingestCommand(files, { ...flags, config });
  });

/** `--server URL --token T`: ask a kubetrail server instead of the local database. */
function withRemote(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'query this kubetrail server (its /api/v1) instead of the local database')
    .option('--token <token>', 'bearer token for --server (default KUBETRAIL_TOKEN)');
}

const sinceHelp = 'duration back from now (90s, 15m, 24h, 30d, 2w) or RFC 3339 time';

withRemote(withCommon(program.command('events')))
  .description('who did what: actions, each once, newest first')
  .option('--user <name>', 'a username that acted or was impersonated (--actor, --effective-user: exactly one of them)')
  .option('--actor <identity>', "the actor's identity: username, or EKS caller ARN")
  .option('--effective-user <name>', 'username whose permissions were used (the impersonated user, else the actor)')
  .option('--person <person>', 'the person behind the actor (identity map, or an e-mail identity)')
  .option('--credential <id>', 'credential id: X509SHA256=… or JTI=…')
  .option('--verb <verb>', 'verb, e.g. get, create, delete')
  .option('--resource <resource>', 'RESOURCE[.GROUP][/SUBRESOURCE], e.g. pods, deployments.apps, pods/exec')
  .option('--api-group <group>', "API group ('' or core: the core group)")
  .option('--subresource <name>', "subresource ('': the resource itself)")
  .option('-n, --namespace <ns>', 'namespace')
  .option('--name <name>', 'object name')
  .option('--since <time>', sinceHelp)
  .option('--until <time>', 'duration back from now or RFC 3339 time')
  .option('--decision <decision>', 'authorization decision: allow, forbid or unknown')
  .option('--code <code>', 'response code, exact (403) or a range (400-499)')
  .option('--source-ip <cidr>', 'a source IP in this CIDR block (10.0.0.0/8) or this address')
  .option('--user-agent <text>', 'text in the user agent')
  .option('--finding <rule>', 'actions behind alerts of this rule, e.g. secret-read')
  .option('--q <text>', 'text in the requestURI')
  .option('--cluster <name>', 'cluster')
  .option('--limit <n>', 'most rows to show; 0 = all', '1000')
  .addOption(new Option('--output <format>', 'output format').choices([...ROW_OUTPUTS]).default('table'))
  .action(async (flags) => {
    const config = configFrom(flags);
    process.exitCode = await query(config, 'events', flags, (remote) => eventsCommand(config, flags, remote));
  });

withRemote(withCommon(program.command('history')))
  .description('every action on one object, newest first')
  .argument('<object>', 'RESOURCE[.GROUP]/NAME, e.g. secrets/db-password, deployments.apps/web')
  .option('-n, --namespace <ns>', 'namespace (leave out for a cluster-scoped object)')
  .option('--cluster <name>', 'cluster')
  .option('--since <time>', sinceHelp)
  .option('--until <time>', 'duration back from now or RFC 3339 time')
  .option('--limit <n>', 'most rows to show; 0 = all', '1000')
  .addOption(new Option('--output <format>', 'output format').choices([...ROW_OUTPUTS]).default('table'))
  .action(async (target: string, flags) => {
    const config = configFrom(flags);
    process.exitCode = await query(config, 'history', flags, (remote) => historyCommand(config, target, flags, remote));
  });

withRemote(withCommon(program.command('identities')))
  .description('every identity seen: kind, the person behind it, credentials used, first and last seen, actions')
  .option('--since <time>', sinceHelp)
  .option('--until <time>', 'duration back from now or RFC 3339 time')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => {
    const config = configFrom(flags);
    process.exitCode = await query(config, 'identities', flags, (remote) => identitiesCommand(config, flags, remote));
  });

withRemote(withCommon(program.command('alerts')))
  .description('alerts raised at ingest, newest first')
  .option('--since <time>', sinceHelp)
  .addOption(new Option('--severity <level>', 'only alerts at or above this severity').choices([...SEVERITIES]))
  .option('--rule <id>', 'only alerts of this rule, e.g. system-masters-use')
  .addOption(new Option('--status <status>', 'only alerts in this state').choices([...ALERT_STATUSES]))
  .option('--cluster <name>', 'cluster')
  .option('--limit <n>', 'most rows to show; 0 = all', '1000')
  .addOption(new Option('--output <format>', 'output format').choices([...ROW_OUTPUTS]).default('table'))
  .addOption(new Option('--fail-on-severity <level>', 'exit 1 when an alert shown is at or above this severity').choices([...SEVERITIES]))
  .action(async (flags) => {
    const config = configFrom(flags);
    process.exitCode = await query(config, 'alerts', flags, async (remote) => alertsCommand(config, flags, remote));
  });

/**
 * Runs a query command against a server (`--server`), which records it in its self-audit, or
 * against the local database, recorded here. Returns the exit code.
 */
async function query(config: Readonly<Config>, action: string, flags: { server?: string; token?: string }, run: (remote: Remote | null) => Promise<CommandResult>): Promise<number> {
  const remote = remoteFrom(flags);
  if (remote) {
    return asResult(await run(remote)).exitCode ?? 0;
  }
  return auditedQuery(config, action, async () => asResult(await run(null)));
}

withCommon(program.command('verify'))
  .description("recompute the store's hash chain: names the first event or link changed, deleted or inserted behind kubetrail's back; exit 1 when anything fails (PCI DSS 10.3.4)")
  .option('--since <time>', `check links committed since then (${sinceHelp}); earlier ones are taken as stored`)
  .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
  .action(audited('verify', (config, flags: CommonFlags & { since?: string; output: 'text' | 'json' }) => verifyCommand(config, flags)));

program.command('token')
  .description('query API tokens')
  .command('create')
  .description('print a new random token, and the api.tokens entry (its SHA-256, never the token) for the configuration')
  .requiredOption('--name <name>', 'who or what holds it; the self-audit names calls by it')
  .addOption(new Option('--role <role>', 'what it may read').choices([...ROLES]).makeOptionMandatory())
  .action((flags: { name: string; role: Role }) => {
    if (!/^[\w.@-]{1,128}$/.test(flags.name)) throw new InputError(`--name: expected letters, digits, . _ @ -, got '${flags.name}'`);
    const { token, sha256 } = newToken();
    process.stdout.write(`token (give it to ${flags.name}; it is not stored anywhere): ${token}\n\nadd to kubetrail.yaml:\napi:\n  tokens:\n    - name: ${flags.name}\n      role: ${flags.role}\n      sha256: ${sha256}\n`);
  });

const breakglass = program.command('breakglass').description("break-glass checkouts: attribute a shared account's actions to a person");
withRemote(withCommon(breakglass.command('checkout')))
  .description('check out a break-glass account: its actions in the window are attributed to the person')
  .requiredOption('--account <name>', 'the shared account, e.g. kubernetes-admin')
  .requiredOption('--person <person>', 'who will use it')
  .requiredOption('--approved-by <person>', 'who approved it (not the person)')
  .requiredOption('--reason <text>', 'why')
  .requiredOption('--ticket <id>', 'change or incident ticket')
  .option('--for <duration>', 'window length from --from, e.g. 2h')
  .option('--from <time>', 'window start, RFC 3339 (default now)')
  .option('--until <time>', 'window end, RFC 3339 (instead of --for)')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => checkoutCommand(configFrom(flags), flags, remoteFrom(flags)));
withRemote(withCommon(breakglass.command('list')))
  .description('every checkout, newest first')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => {
    const config = configFrom(flags);
    process.exitCode = await query(config, 'breakglass list', flags, (remote) => listCheckoutsCommand(config, flags, remote));
  });
withRemote(withCommon(breakglass.command('close')))
  .description('end a checkout now: later use of the account is unattributed again')
  .argument('<id>', 'checkout id')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (id: string, flags) => closeCheckoutCommand(configFrom(flags), id, flags, remoteFrom(flags)));

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Where an `rbac` command takes its RBAC from. */
function withState(cmd: Command): Command {
  return withCommon(cmd)
    .option('-f, --file <path>', 'evaluate these files or folders instead of the stored snapshot (repeatable)', collect)
    .option('--snapshot <id>', 'evaluate this stored snapshot (default: the newest of the cluster)')
    .option('--cluster <name>', 'cluster whose newest snapshot to evaluate (default: config cluster)');
}

const rbac = program.command('rbac').description('RBAC as the apiserver evaluates it: snapshots, can, who-can, effective permissions, usage report and least-privilege recommendations');
withCommon(rbac.command('load'))
  .description('store an RBAC snapshot from files and folders (YAML, JSON, Lists, kubectl get -o yaml|json) or from the live cluster')
  .argument('[files...]', 'files or folders; - reads standard input')
  .option('--from-cluster', 'read the live cluster (the four RBAC kinds, service accounts and API discovery)')
  .option('--context <name>', 'kubeconfig context (with --from-cluster)')
  .option('--kubeconfig <file>', 'kubeconfig file (default KUBECONFIG, then ~/.kube/config)')
  .option('--in-cluster', 'use the pod\'s service account (with --from-cluster)')
  .option('--cluster <name>', 'cluster name to store the snapshot under (default: config cluster)')
  .addOption(new Option('--output <format>', 'summary format').choices(['text', 'json']).default('text'))
  .action(async (files: string[], flags) => loadCommand(configFrom(flags), files, flags));
withCommon(rbac.command('snapshots'))
  .description('stored RBAC snapshots, newest first')
  .option('--cluster <name>', 'only this cluster')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => snapshotsCommand(configFrom(flags), flags));
withCommon(rbac.command('diff'))
  .description('what changed between two snapshots (ids), or files and folders')
  .argument('<a>', 'the earlier snapshot id, or a file or folder')
  .argument('<b>', 'the later snapshot id, or a file or folder')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (a: string, b: string, flags) => {
    process.exitCode = await diffCommand(configFrom(flags), a, b, flags);
  });
withState(rbac.command('can'))
  .description('may a user make a request? prints yes or no, exits 0 or 1 (like kubectl auth can-i)')
  .argument('<verb>', 'verb, e.g. get, list, create, impersonate')
  .argument('<resource>', 'RESOURCE[.GROUP][/NAME] (deployments.apps, leases.coordination.k8s.io/kube-scheduler) or a URL (/healthz)')
  .option('--subresource <name>', 'subresource, e.g. log, exec, scale, token')
  .option('-n, --namespace <ns>', 'namespace (default: cluster-wide)')
  .requiredOption('--as <user>', 'username; system:authenticated and service-account groups are added as the apiserver would')
  .option('--as-group <group>', 'a group of the user (repeatable)', collect)
  .option('--explain', 'name the binding, role and rule that allow it, or the system:masters bypass')
  .action(async (verb: string, resource: string, flags) => {
    process.exitCode = await canCommand(configFrom(flags), verb, resource, flags);
  });
withState(rbac.command('who-can'))
  .description('which subjects may make a request, with the binding and role of each')
  .argument('<verb>', 'verb, e.g. get, create, escalate')
  .argument('<resource>', 'RESOURCE[.GROUP][/NAME] or a URL')
  .option('--subresource <name>', 'subresource, e.g. exec')
  .option('-n, --namespace <ns>', 'namespace (default: every namespace for namespaced resources)')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (verb: string, resource: string, flags) => whoCanCommand(configFrom(flags), verb, resource, flags));
withState(rbac.command('permissions'))
  .description('every rule that reaches a user, service account or group, with the binding path that grants it')
  .option('--user <name>', 'a user (system:authenticated is added)')
  .option('--group <group>', 'a group of the user, or alone: what the group is granted (repeatable)', collect)
  .option('--serviceaccount <ns:name>', 'a service account')
  .option('-n, --namespace <ns>', 'only RoleBindings of this namespace (and ClusterRoleBindings)')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => permissionsCommand(configFrom(flags), flags));

withState(rbac.command('report'))
  .description('granted versus used over a window: per subject, unused and removable bindings, dangerous grants unused first, subjects never seen')
  .option('--since <when>', 'window start: a duration back from now (30d, 2w) or an RFC 3339 time', '30d')
  .option('--until <when>', 'window end (default: now)')
  .option('--subject <name>', 'only this user, service account (system:serviceaccount:NS:NAME) or group (repeatable)', collect)
  .option('-n, --namespace <ns>', 'only RoleBindings and requests of this namespace (and ClusterRoleBindings)')
  .addOption(new Option('--output <format>', 'output format').choices([...REPORT_FORMATS]).default('table'))
  .action((flags) => reportCommand(configFrom(flags), flags));
withState(rbac.command('stale'))
  .description('users and service accounts bound in RBAC with no request for idle.days (default 90): stale-account, or insufficient history when the store covers less (PCI DSS 8.2.6)')
  .option('--days <n>', 'idle after this many days (default: idle.days)')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(async (flags) => {
    await staleCommand(configFrom(flags), flags);
  });
withState(rbac.command('recommend'))
  .description('the smallest Roles/ClusterRoles and bindings that allow what a subject was seen doing, as YAML for kubectl apply, with a dry run')
  .option('--user <name>', 'a user (or system:serviceaccount:NS:NAME)')
  .option('--serviceaccount <ns:name>', 'a service account')
  .option('--group <name>', 'a group: what was allowed through its bindings')
  .option('--all', 'every user and service account seen with requests RBAC allowed')
  .option('--since <when>', 'window start: a duration back from now (30d, 2w) or an RFC 3339 time', '30d')
  .option('--until <when>', 'window end (default: now)')
  .option('-n, --namespace <ns>', 'only requests in this namespace (and cluster-scoped ones)')
  .option('--include-denied', 'also allow the requests that were denied (audit2rbac does by default)')
  .option('--no-expand-verbs', 'grant only the verbs seen (default: list and watch bring get, update and patch bring get …)')
  .option('--no-expand-multi-namespace', 'keep an operation seen in several namespaces in a Role per namespace (default: cluster-wide)')
  .option('--no-expand-multi-name', 'keep resourceNames for an operation seen on several names (default: any name)')
  .option('--proposal <file>', 'dry-run this RBAC (e.g. an edited recommendation) instead of generating one')
  .option('--fail-on-regression', 'exit 1 when the dry run finds an observed allowed request the new RBAC would deny')
  .action(async (flags) => {
    process.exitCode = await recommendCommand(configFrom(flags), flags);
  });
withCommon(rbac.command('rollups'))
  .description('the daily usage rollups the report reads (kept at ingest)')
  .option('--rebuild', 'rebuild them from the stored events')
  .action((flags) => rollupsCommand(configFrom(flags), flags));

const review = program.command('review').description('access reviews (PCI DSS 7.2.4, 7.2.5.1, 8.2.6): the pack reviewers sign, their decisions, and past reviews');
withState(review.command('export'))
  .description('per subject: bindings, effective permissions with the last use of each, unused and removable grants, dangerous grants, idle since, the last decision and what changed since; kept as a new review')
  .option('--since <when>', 'activity window start (180d: six months)', '180d')
  .option('--until <when>', 'window end (default: now)')
  .addOption(new Option('--output <format>', 'output format').choices([...REVIEW_FORMATS]).default('markdown'))
  .action(audited('review export', (config, flags: Parameters<typeof reviewExportCommand>[1] & CommonFlags) => reviewExportCommand(config, flags)));
withCommon(review.command('record'))
  .description("record a reviewer's decision on one subject of a review")
  .requiredOption('--subject <subject>', "as the export names it: 'User alice', 'Group dev', 'ServiceAccount system:serviceaccount:ns:name' (or the bare name when unique)")
  .requiredOption('--decision <decision>', 'keep, reduce or remove')
  .requiredOption('--reviewer <name>', 'who decided')
  .option('--note <text>', 'why, or the ticket of the change')
  .option('--review <id>', "the review (default: the cluster's newest)")
  .option('--cluster <name>', 'cluster (default: config cluster)')
  .action(
    audited('review record', async (config, flags: Parameters<typeof reviewRecordCommand>[1] & CommonFlags) => {
      await reviewRecordCommand(config, flags);
      return 1;
    }),
  );
withCommon(review.command('list'))
  .description('every access review, newest first, with its decisions')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(audited('review list', (config, flags: Parameters<typeof reviewListCommand>[1] & CommonFlags) => reviewListCommand(config, flags)));
withCommon(review.command('show'))
  .description('the subjects of a past review and the decision on each')
  .argument('<id>', 'review number (review list)')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(audited('review show', (config, flags: Parameters<typeof reviewShowCommand>[2] & CommonFlags, id: string) => reviewShowCommand(config, id, flags)));

withCommon(program.command('coverage'))
  .description('what kubetrail cannot see in a cluster: each detection and report working, degraded (and why) or blind, from the levels, verbs and bodies its stored events record, with what to change')
  .option('--cluster <name>', 'cluster (default: config cluster)')
  .option('--since <time>', `window start (${sinceHelp})`, '7d')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(audited('coverage', (config, flags: CommonFlags & { cluster?: string; since: string; output: OutputFormat }) => coverageCommand(config, flags)));

program
  .command('policy')
  .description('audit Policy files')
  .command('check')
  .description('what kubetrail would be blind to under an audit Policy: each need probed with the requests it reads, the rule that hides it and the rule to add; exit 1 when anything is not recorded')
  .argument('<file>', 'the Policy (YAML or JSON), as given to --audit-policy-file')
  .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
  .action((file: string, flags: { output: 'text' | 'json' }) => {
    process.exitCode = policyCheckCommand(file, flags);
  });

program
  .command('rules')
  .description('Sigma rules for detections.sigma')
  .command('check')
  .description('reads SigmaHQ-format Kubernetes audit rules and names, rule by rule, what kubetrail cannot evaluate as written; exit 1 when any rule will not run')
  .argument('<path...>', 'rule files, or directories searched for .yml and .yaml files')
  .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
  .action((paths: string[], flags: { output: 'text' | 'json' }) => {
    process.exitCode = rulesCheckCommand(paths, flags);
  });

const gaps = program.command('gaps').description('audit pipeline gaps (PCI DSS 10.7.2, 10.7.3): clusters and sources that went silent or whose rate collapsed, with cause and remediation');
withCommon(gaps.command('list'))
  .description('gaps, newest first')
  .option('--since <time>', sinceHelp)
  .option('--cluster <name>', 'cluster')
  .option('--open', 'only gaps still open')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(
    audited('gaps list', async (config, flags: CommonFlags & { since?: string; cluster?: string; open?: boolean; output: OutputFormat }) => {
      return usingStore(config, 'read', async (store) => {
        const rows = await store.status.gaps({ since: flags.since === undefined ? undefined : parseTimeBound(flags.since, '--since', systemClock()), cluster: flags.cluster, open: flags.open }, systemClock() * 1000);
        return writeRows(process.stdout, rows, GAP_COLUMNS, flags.output);
      });
    }),
  );
withCommon(gaps.command('ack'))
  .description('acknowledge a gap with its cause and what was done (its alert is acknowledged with it)')
  .argument('<id>', 'gap number (gaps list)')
  .requiredOption('--cause <text>', 'why events stopped')
  .requiredOption('--remediation <text>', 'what was done, and what prevents it again')
  .option('--by <name>', 'who acknowledges (default: the OS user)')
  .action(
    audited('gaps ack', (config, flags: CommonFlags & { cause: string; remediation: string; by?: string }, id: string) => {
      const n = Number(id);
      if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`expected a gap number, got '${id}'`);
      return usingStore(config, 'write', async (store) => {
        const gap = await store.status.acknowledgeGap(n, { cause: flags.cause, remediation: flags.remediation, by: flags.by ?? userInfo().username }, systemClock() * 1000);
        process.stdout.write(`gap #${gap.id} (${gap.cluster} via ${gap.source}, ${gap.seconds} s) acknowledged by ${gap.ackedBy}\n`);
        return 1;
      });
    }),
  );

withCommon(program.command('retention').command('run'))
  .description('archive each day older than retention.hotDays to a compressed NDJSON file with a manifest tied to the hash chain, and, only when retention.deleteArchivesAfterDays is set, delete archives older than that (PCI DSS 10.5.1); serve runs it daily')
  .action(audited('retention run', (config) => retentionRunCommand(config)));
const archive = program.command('archive').description('archived days: list them, check one against its SHA-256 and the hash chain, bring one back');
withCommon(archive.command('list'))
  .description('archived days, with their files, SHA-256 and state')
  .addOption(new Option('--output <format>', 'output format').choices([...OUTPUT_FORMATS]).default('table'))
  .action(audited('archive list', (config, flags: CommonFlags & { output: OutputFormat }) => archiveListCommand(config, flags)));
withCommon(archive.command('verify'))
  .description("check a day's archive against its SHA-256 and the chain links that covered its rows; exit 1 when it fails")
  .argument('<day>', 'YYYY-MM-DD')
  .action(audited('archive verify', (config, _flags: CommonFlags, day: string) => archiveVerifyCommand(config, day)));
withCommon(archive.command('restore'))
  .description('bring an archived day back into the store for investigation, row for row')
  .argument('<day>', 'YYYY-MM-DD')
  .action(audited('archive restore', (config, _flags: CommonFlags, day: string) => archiveRestoreCommand(config, day)));

withCommon(program.command('pci').command('evidence'))
  .description('write a folder an assessor can read: an index naming the PCI DSS requirement of each item, sample records with the 10.2.2 fields, the latest access review, alerts and their handling, retention and archives, the verify result, pipeline gaps, idle accounts, break-glass, and kubetrail\'s own trail')
  .requiredOption('--out <dir>', 'folder to write (created)')
  .option('--since <time>', `period of samples, alerts, gaps and the self-audit (${sinceHelp})`, '90d')
  .option('--cluster <name>', 'cluster (default: config cluster)')
  .action(
    audited('pci evidence', (config, flags: CommonFlags & { out: string; since: string; cluster?: string }) => evidenceCommand(config, flags)),
  );

async function main(): Promise<void> {
  // `kubetrail … | head`: a reader that has seen enough is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    const raw = (err as { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : '';
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    if (err instanceof InputError || err instanceof ConfigError || err instanceof NotFoundError) {
      process.stderr.write(`kubetrail: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`kubetrail: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}

await main();
