import { parseRedactionKey } from './storage/redactionKey.js';
import { dirname, join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { LineCounter, isCollection, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import { DEFAULT_DETECT_SETTINGS, type DetectorOptions } from './detect/engine.js';
import { FINDING_IDS, SEVERITIES } from './detect/types.js';
import type { StoreWriterOptions } from './storage/sqlite/write/storeWriter.js';
import { ConfigError, errorMessage } from './errors.js';
import { ROLES, hashToken, type Role } from './access.js';
import { parseCidr } from './cidr.js';
import { SIEM_SCHEMAS } from './siem/siemFields.js';

/**
 * kubetrail's configuration: `kubetrail.yaml` plus environment overrides, validated once at
 * start. Every default lives in DEFAULTS, with the reason for it; the README documents each key.
 */
export const DEFAULTS = {
  /** Loopback: the store holds the cluster's most sensitive record; exposing it is a choice. */
  listen: '127.0.0.1:8080',
  server: {
    /**
     * Names clients may reach kubetrail by (the Host header), beyond IP addresses, localhost and
     * the listen host: a DNS name that points here without being listed is refused (421), which
     * stops DNS rebinding. `*.example.com` matches one label or more.
     */
    allowedHosts: [] as string[],
  },
  /** The cluster name for events that arrive without one (webhook path, Kafka header). */
  cluster: 'default',
  /** The scale-out store: a PostgreSQL URL (postgres://user@host:port/database); none = the SQLite database. */
  storage: {} as { url?: string },
  database: {
    path: './data/kubetrail.db',
    /** FULL fsyncs each commit: an acknowledged batch survives a power cut, at little cost in WAL mode. */
    synchronous: 'FULL' as 'FULL' | 'NORMAL',
  },
  webhook: {
    /** 400 events with full RequestResponse bodies fit; larger bodies get 413. */
    maxBodyBytes: 32 * 1024 * 1024,
    /** Bearer tokens the apiserver must present (its webhook kubeconfig `users[].user.token`); none = no check. */
    tokens: [] as string[],
    /** Mutual TLS: the apiserver must present a client certificate signed by tls.clientCaFile. */
    requireClientCert: false,
    /**
     * Bodies read or prepared at once (several apiservers, each with batches in flight); beyond,
     * 503 with Retry-After and the apiserver retries. Each can be maxBodyBytes: this bounds memory.
     */
    maxConcurrentBodies: 8,
    /** With requireClientCert: certificate names (CN or DNS SAN, `*` wildcards) that may send; none = any the CA signed. */
    allowedClientNames: [] as string[],
    /** With requireClientCert: per certificate name, the clusters (path segments) it may send for. */
    clientClusters: {} as Record<string, string[]>,
  },
  quarantine: {
    /** Rejected input is kept up to this many bytes each; the full size is recorded. */
    maxRawBytes: 1024 * 1024,
  },
  ingest: {
    /** Events per transaction for file ingest: larger transactions insert faster (sqlite-facts.md). */
    batchEvents: 2_500,
    /** How often `--follow` looks for new lines and rotation. */
    followPollMs: 250,
  },
  kafka: {
    /** No brokers: no Kafka consumer. */
    brokers: [] as string[],
    topics: ['k8s-audit'],
    group: 'kubetrail',
    deadLetterTopic: 'k8s-audit.dlq',
    clientId: 'kubetrail',
    /**
     * Pause consuming while this many store writes wait: Kafka keeps the messages, so the
     * webhook (whose senders time out) goes first, and a slow disk costs no group rebalance.
     */
    pauseAtBacklog: 4,
  },
  relay: {
    /** Publish webhook batches to Kafka (kafka.brokers) instead of storing them. */
    toKafka: false,
    /** The topic to publish to; default: the first of kafka.topics. */
    topic: undefined as string | undefined,
  },
  log: { level: 'info' as const },
  api: {
    /** Bearer tokens of the query API, as SHA-256 hashes with a name and a role; none = loopback only. */
    tokens: [] as { name: string; role: Role; sha256: string }[],
    maxPageSize: 5_000,
  },
  rbac: {
    /**
     * Days of activity a window must cover before `rbac report` calls a permission unused:
     * two weeks sees weekly and fortnightly jobs; monthly ones need a longer window and minimum.
     */
    minWindowDays: 14,
  },
  /** Accounts bound in RBAC with no request for this many days are stale (PCI DSS 8.2.6). */
  idle: { days: 90 },
  /**
   * PCI DSS 10.5.1: keep a year, the last three months at hand. Days older than hotDays move
   * to archives under archiveDir (default: beside the database). `days` is the retention
   * promised; archives are deleted only when deleteArchivesAfterDays says so (no default:
   * deleting audit evidence is the user's explicit choice), never before `days`. Under 365 days
   * needs allowShortRetention, and is logged.
   */
  retention: { days: 400, hotDays: 90, allowShortRetention: false },
  /** A cluster and source silent this long, or whose rate collapses under a tenth, is an audit-pipeline gap (PCI DSS 10.7.2). */
  gap: { minutes: 10, collapseRatio: 0.1 },
};

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i;
const UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

const size = z.unknown().transform((value, ctx) => {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  const m = typeof value === 'string' ? SIZE.exec(value.trim()) : null;
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a size like 32MiB, got '${String(value)}'` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
});

const hostPort = z.string().superRefine((v, ctx) => {
  if (parseListen(v) === null) ctx.addIssue({ code: 'custom', message: `expected host:port, got '${v}'` });
});

const cidrText = z.string().superRefine((v, ctx) => {
  try {
    parseCidr(v, 'address');
  } catch {
    ctx.addIssue({ code: 'custom', message: `expected an IP address or CIDR block such as 203.0.113.0/24, got '${v}'` });
  }
});
const ALERT_DEFAULTS = { throttleSeconds: 3600, pollMs: 1000, retryBaseMs: 1000, retryMaxMs: 300_000 };

const sinkBase = { name: z.string().regex(/^[\w.-]+$/, 'expected a name of letters, digits, . _ -'), minSeverity: z.enum(SEVERITIES).optional() };
const httpUrl = z.string().refine((u) => /^https?:\/\/[^\s/]+/.test(u), 'expected an http:// or https:// URL');
/** What an alert is sent as: kubetrail's own JSON, an OCSF Detection Finding or an ECS alert. */
const sinkSchema = z.enum(['kubetrail', ...SIEM_SCHEMAS]).default('kubetrail');
const sink = z.discriminatedUnion('type', [
  z.strictObject({ ...sinkBase, type: z.literal('stdout'), schema: sinkSchema }),
  z.strictObject({ ...sinkBase, type: z.literal('webhook'), url: httpUrl, headers: z.record(z.string(), z.string()).optional(), schema: sinkSchema }),
  z.strictObject({ ...sinkBase, type: z.literal('slack'), url: httpUrl }),
  z.strictObject({ ...sinkBase, type: z.literal('alertmanager'), url: httpUrl }),
  z.strictObject({ ...sinkBase, type: z.literal('kafka'), topic: z.string().min(1), brokers: z.array(hostPort).min(1).optional(), schema: sinkSchema }),
  z.strictObject({ ...sinkBase, type: z.literal('file'), path: z.string().min(1), schema: sinkSchema }),
]);

const schema = z.strictObject({
  listen: hostPort.default(DEFAULTS.listen),
  tls: z.strictObject({ certFile: z.string(), keyFile: z.string(), clientCaFile: z.string().optional() }).optional(),
  server: z
    .strictObject({ allowedHosts: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+$/, 'expected a host name, or *.domain')).default(DEFAULTS.server.allowedHosts) })
    .default(DEFAULTS.server),
  cluster: z.string().min(1).default(DEFAULTS.cluster),
  storage: z
    .strictObject({ url: z.string().regex(/^postgres(ql)?:\/\/\S+$/i, 'expected a PostgreSQL URL: postgres://user@host:port/database').optional() })
    .default(DEFAULTS.storage),
  database: z
    .strictObject({
      path: z.string().min(1).default(DEFAULTS.database.path),
      synchronous: z.enum(['FULL', 'NORMAL']).default(DEFAULTS.database.synchronous),
    })
    .default(DEFAULTS.database),
  webhook: z
    .strictObject({
      maxBodyBytes: size.default(DEFAULTS.webhook.maxBodyBytes),
      tokens: z.array(z.string().min(16, 'tokens must be at least 16 characters')).default(DEFAULTS.webhook.tokens),
      requireClientCert: z.boolean().default(DEFAULTS.webhook.requireClientCert),
      maxConcurrentBodies: z.number().int().min(1).max(64).default(DEFAULTS.webhook.maxConcurrentBodies),
      allowedClientNames: z.array(z.string().min(1)).default(DEFAULTS.webhook.allowedClientNames),
      clientClusters: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).default(DEFAULTS.webhook.clientClusters),
    })
    .default(DEFAULTS.webhook),
  quarantine: z.strictObject({ maxRawBytes: size.default(DEFAULTS.quarantine.maxRawBytes) }).default(DEFAULTS.quarantine),
  redaction: z.strictObject({ keyFile: z.string().min(1).optional() }).default({}),
  ingest: z
    .strictObject({
      batchEvents: z.number().int().min(1).max(1_000_000).default(DEFAULTS.ingest.batchEvents),
      followPollMs: z.number().int().min(10).max(60_000).default(DEFAULTS.ingest.followPollMs),
    })
    .default(DEFAULTS.ingest),
  kafka: z
    .strictObject({
      brokers: z.array(hostPort).default(DEFAULTS.kafka.brokers),
      topics: z.array(z.string().min(1)).min(1).default(DEFAULTS.kafka.topics),
      group: z.string().min(1).default(DEFAULTS.kafka.group),
      deadLetterTopic: z.string().min(1).default(DEFAULTS.kafka.deadLetterTopic),
      clientId: z.string().min(1).default(DEFAULTS.kafka.clientId),
      // The consumer keeps two writes of its own in flight: at 2 it would pause itself.
      pauseAtBacklog: z.number().int().min(3).max(1000).default(DEFAULTS.kafka.pauseAtBacklog),
      /** TLS to the brokers: true (the system's CAs), or a CA file (kafkaSecurity.ts). */
      ssl: z.union([z.boolean(), z.strictObject({ caFile: z.string().min(1).optional(), rejectUnauthorized: z.boolean().default(true) })]).optional(),
      /** SASL; Event Hubs: mechanism plain, username $ConnectionString, the connection string as the password. */
      sasl: z
        .strictObject({
          mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
          username: z.string().min(1),
          password: z.string().min(1).optional(),
          passwordFile: z.string().min(1).optional(),
        })
        .optional(),
    })
    .default(DEFAULTS.kafka),
  relay: z
    .strictObject({ toKafka: z.boolean().default(false), topic: z.string().min(1).optional() })
    .default({ toKafka: false }),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default(DEFAULTS.log),
  api: z
    .strictObject({
      tokens: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[\w.@-]{1,128}$/, 'expected a name of letters, digits, . _ @ -'),
            role: z.enum(ROLES),
            sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the token, 64 hex digits (kubetrail token create prints it)'),
          }),
        )
        .default([])
        .superRefine((tokens, ctx) => {
          const seen = new Set<string>();
          for (const t of tokens) {
            if (seen.has(t.name)) ctx.addIssue({ code: 'custom', message: `token name '${t.name}' is used twice; each token needs its own name (the self-audit names it)` });
            seen.add(t.name);
          }
        }),
      /** Most rows one page of a list may ask for (`limit`). */
      maxPageSize: z.number().int().min(1).max(100_000).default(DEFAULTS.api.maxPageSize),
    })
    .default({ tokens: [], maxPageSize: DEFAULTS.api.maxPageSize }),
  rbac: z.strictObject({ minWindowDays: z.number().int().min(0).max(3660).default(DEFAULTS.rbac.minWindowDays) }).default(DEFAULTS.rbac),
  idle: z.strictObject({ days: z.number().int().min(1).max(3660).default(DEFAULTS.idle.days) }).default(DEFAULTS.idle),
  retention: z
    .strictObject({
      days: z.number().int().min(1).max(36_500).default(DEFAULTS.retention.days),
      hotDays: z.number().int().min(1).max(36_500).default(DEFAULTS.retention.hotDays),
      archiveDir: z.string().min(1).optional(),
      allowShortRetention: z.boolean().default(DEFAULTS.retention.allowShortRetention),
      deleteArchivesAfterDays: z.number().int().min(1).max(36_500).optional(),
    })
    .default(DEFAULTS.retention)
    .superRefine((r, ctx) => {
      if (r.days < 365 && !r.allowShortRetention) ctx.addIssue({ code: 'custom', message: `days ${r.days} is under the year PCI DSS 10.5.1 asks for; set retention.allowShortRetention: true to accept it (it is logged at every start)` });
      if (r.hotDays > r.days) ctx.addIssue({ code: 'custom', message: `hotDays ${r.hotDays} is more than days ${r.days}` });
      if (r.deleteArchivesAfterDays !== undefined && r.deleteArchivesAfterDays < r.days) {
        ctx.addIssue({ code: 'custom', message: `deleteArchivesAfterDays ${r.deleteArchivesAfterDays} is less than days ${r.days}: archives would be deleted before the retention promised` });
      }
    }),
  gap: z
    .strictObject({
      /** Fractions are allowed (0.05 = 3 s), for tests and very busy clusters. */
      minutes: z.number().min(0.01).max(1440).default(DEFAULTS.gap.minutes),
      collapseRatio: z.number().min(0).max(1).default(DEFAULTS.gap.collapseRatio),
    })
    .default(DEFAULTS.gap),
  breakGlass: z
    .strictObject({
      accounts: z.array(z.string().min(1)).default([...DEFAULT_DETECT_SETTINGS.breakGlass.accounts]),
      groups: z.array(z.string().min(1)).default([...DEFAULT_DETECT_SETTINGS.breakGlass.groups]),
    })
    .default({ accounts: [...DEFAULT_DETECT_SETTINGS.breakGlass.accounts], groups: [...DEFAULT_DETECT_SETTINGS.breakGlass.groups] }),
  detections: z
    .strictObject({
      /** false: store events without running the detections (no alerts). */
      enabled: z.boolean().default(true),
      anonymousAllowedPaths: z.array(z.string().startsWith('/', 'expected a path starting with /')).default([...DEFAULT_DETECT_SETTINGS.anonymousAllowedPaths]),
      bursts: z
        .strictObject({
          forbiddenCount: z.number().int().min(2).default(DEFAULT_DETECT_SETTINGS.bursts.forbiddenCount),
          anonymousDeniedCount: z.number().int().min(2).default(DEFAULT_DETECT_SETTINGS.bursts.anonymousDeniedCount),
          windowSeconds: z.number().int().min(1).default(DEFAULT_DETECT_SETTINGS.bursts.windowSeconds),
          secretReads: z.number().int().min(2).default(DEFAULT_DETECT_SETTINGS.bursts.secretReads),
          secretReadsWindowSeconds: z.number().int().min(1).default(DEFAULT_DETECT_SETTINGS.bursts.secretReadsWindowSeconds),
          distinctResources: z.number().int().min(2).default(DEFAULT_DETECT_SETTINGS.bursts.distinctResources),
        })
        .default({ ...DEFAULT_DETECT_SETTINGS.bursts }),
      dangerousCapabilities: z.array(z.string().regex(/^[A-Z_]+$/, 'expected a capability name such as SYS_ADMIN')).default([...DEFAULT_DETECT_SETTINGS.dangerousCapabilities]),
      systemNamespaces: z.array(z.string().min(1)).default([...DEFAULT_DETECT_SETTINGS.systemNamespaces]),
      allowedRegistries: z.array(z.string().min(1)).default([]),
      genericUserAgents: z.array(z.string().min(1)).default([...DEFAULT_DETECT_SETTINGS.genericUserAgents]),
      rbacControllers: z.array(z.string().min(1)).default([...DEFAULT_DETECT_SETTINGS.rbacControllers]),
      denyAddresses: z.array(cidrText).default([]),
      denyAddressesFile: z.string().min(1).optional(),
      trustedAddresses: z.array(cidrText).default([]),
      sequenceSeconds: z.number().int().min(1).max(24 * 3600).default(DEFAULT_DETECT_SETTINGS.sequenceSeconds),
      /** Directories (or files) of SigmaHQ-format rules for the Kubernetes audit log. */
      sigma: z.array(z.string().min(1)).default([]),
      rules: z
        .partialRecord(
          z.enum(FINDING_IDS),
          z.strictObject({
            enabled: z.boolean().optional(),
            severity: z.enum(SEVERITIES).optional(),
            exceptUsers: z.array(z.string().min(1)).optional(),
            exceptNamespaces: z.array(z.string().min(1)).optional(),
          }),
        )
        .default({}),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      throttleSeconds: z.number().int().min(0).max(7 * 24 * 3600).default(ALERT_DEFAULTS.throttleSeconds),
      pollMs: z.number().int().min(10).max(60_000).default(ALERT_DEFAULTS.pollMs),
      retryBaseMs: z.number().int().min(10).default(ALERT_DEFAULTS.retryBaseMs),
      retryMaxMs: z.number().int().min(10).default(ALERT_DEFAULTS.retryMaxMs),
      sinks: z.array(sink).default([]),
    })
    .default({ ...ALERT_DEFAULTS, sinks: [] }),
  identityMap: z
    .array(
      z
        .strictObject({
          match: z
            .strictObject({ username: z.string().min(1).optional(), credentialId: z.string().min(1).optional(), arn: z.string().min(1).optional(), group: z.string().min(1).optional() })
            .refine((m) => Object.keys(m).length > 0, 'needs at least one of username, credentialId, arn, group'),
          person: z.string().min(1).optional(),
          team: z.string().min(1).optional(),
        })
        .refine((r) => r.person !== undefined || r.team !== undefined, 'needs a person or a team'),
    )
    .default([]),
});

export type Config = z.output<typeof schema>;

/** A retention under the year PCI DSS 10.5.1 asks for, allowed by the override: to log at every start and run. */
export function shortRetentionWarning(config: Readonly<Config>): string | null {
  return config.retention.days < 365 ? `retention.days is ${config.retention.days}, under the year PCI DSS 10.5.1 asks for (allowed by retention.allowShortRetention)` : null;
}

/** What the retention job does: the hot window, where archives go, and when (only if configured) they are deleted. */
export function retentionJobOf(config: Readonly<Config>): { hotDays: number; dir: string; deleteArchivesAfterDays?: number } {
  const r = config.retention;
  return { hotDays: r.hotDays, dir: archiveDirOf(config), ...(r.deleteArchivesAfterDays !== undefined ? { deleteArchivesAfterDays: r.deleteArchivesAfterDays } : {}) };
}

/** Where archives go: retention.archiveDir, else `archive` beside the database. */
export function archiveDirOf(config: Readonly<Config>): string {
  return config.retention.archiveDir ?? join(dirname(config.database.path), 'archive');
}

export interface ConfigSources {
  /** `--config FILE`; else `KUBETRAIL_CONFIG`; else `./kubetrail.yaml` when it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, which win over the file and the environment. */
  overrides?: { listen?: string; databasePath?: string; relayToKafka?: boolean };
}

/** Reads, merges and validates the configuration. Throws ConfigError naming the key. */
const isStoreUrl = (v: string) => /^postgres(ql)?:\/\//i.test(v);

/** A secret from `NAME`, else from the file `NAME_FILE` names (Docker and Kubernetes secrets), trimmed; undefined when neither is set. */
function secretFromEnv(env: Record<string, string | undefined>, name: string): string | undefined {
  if (env[name]) return env[name]!.trim();
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${name}_FILE: cannot read ${file} (${errorMessage(err)})`);
  }
}

/**
 * Tokens given in the environment, for containers that take their secrets there: the query
 * API's (`KUBETRAIL_API_TOKEN`, a token named `env` with `KUBETRAIL_API_TOKEN_ROLE`, admin by
 * default; only its SHA-256 is kept) and the webhook's (`KUBETRAIL_WEBHOOK_TOKEN`). Each also as
 * `…_FILE`. They add to the file's tokens.
 */
function addEnvTokens(raw: Record<string, unknown>, env: Record<string, string | undefined>): void {
  const api = secretFromEnv(env, 'KUBETRAIL_API_TOKEN');
  if (api !== undefined) {
    if (api.length < 16) throw new ConfigError('KUBETRAIL_API_TOKEN: at least 16 characters (kubetrail token create makes one)');
    const role = env.KUBETRAIL_API_TOKEN_ROLE ?? 'admin';
    if (!(ROLES as readonly string[]).includes(role)) throw new ConfigError(`KUBETRAIL_API_TOKEN_ROLE: expected one of ${ROLES.join(', ')}, got '${role}'`);
    const tokens = ((raw.api as Record<string, unknown> | undefined)?.tokens as unknown[] | undefined) ?? [];
    setPath(raw, ['api', 'tokens'], [...tokens, { name: 'env', role, sha256: hashToken(api) }]);
  }
  const webhook = secretFromEnv(env, 'KUBETRAIL_WEBHOOK_TOKEN');
  if (webhook !== undefined) {
    if (webhook.length < 16) throw new ConfigError('KUBETRAIL_WEBHOOK_TOKEN: at least 16 characters (the token the apiserver\'s webhook kubeconfig presents)');
    const tokens = ((raw.webhook as Record<string, unknown> | undefined)?.tokens as unknown[] | undefined) ?? [];
    setPath(raw, ['webhook', 'tokens'], [...tokens, webhook]);
  }
}

export function loadConfig(sources: ConfigSources = {}): Readonly<Config> {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.KUBETRAIL_CONFIG ?? (existsSync('kubetrail.yaml') ? 'kubetrail.yaml' : undefined);
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config file ${file}: cannot read it (${errorMessage(err)})`);
    }
    const doc = readYaml(text, file);
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file}: expected a mapping of keys`);
      raw = doc as Record<string, unknown>;
    }
  }
  const databasePath = (raw.database as Record<string, unknown> | undefined)?.path;
  if (typeof databasePath === 'string' && isStoreUrl(databasePath)) {
    throw new ConfigError(`config database.path${file ? ` (${file})` : ''}: '${databasePath.replace(/\/\/[^@/]*@/, '//***@')}' is a PostgreSQL URL, and database.path names a SQLite file: put the URL in storage.url`);
  }
  const fromEnv: [string, string[]][] = [
    ['KUBETRAIL_LISTEN', ['listen']],
    // KUBETRAIL_DB is --db's variable: a SQLite path, or a PostgreSQL URL as --db takes one.
    ['KUBETRAIL_DB', isStoreUrl(env.KUBETRAIL_DB ?? '') ? ['storage', 'url'] : ['database', 'path']],
    ['KUBETRAIL_DATABASE_URL', ['storage', 'url']],
  ];
  for (const [name, path] of fromEnv) if (env[name]) setPath(raw, path, env[name]);
  const brokers = env.KUBETRAIL_KAFKA_BROKERS || env.KAFKA_BROKERS;
  if (brokers) setPath(raw, ['kafka', 'brokers'], brokers.split(',').map((b) => b.trim()).filter(Boolean));
  if (env.KUBETRAIL_KAFKA_TOPIC) setPath(raw, ['kafka', 'topics'], env.KUBETRAIL_KAFKA_TOPIC.split(',').map((t) => t.trim()).filter(Boolean));
  if (env.KUBETRAIL_KAFKA_GROUP) setPath(raw, ['kafka', 'group'], env.KUBETRAIL_KAFKA_GROUP);
  addEnvTokens(raw, env);
  if (sources.overrides?.listen) setPath(raw, ['listen'], sources.overrides.listen);
  // --db takes a SQLite path or a PostgreSQL URL, and wins over either in the file or the environment.
  const db = sources.overrides?.databasePath;
  if (db && isStoreUrl(db)) setPath(raw, ['storage', 'url'], db);
  else if (db) {
    setPath(raw, ['database', 'path'], db);
    delete (raw.storage as Record<string, unknown> | undefined)?.url;
  }

  if (sources.overrides?.relayToKafka) setPath(raw, ['relay', 'toKafka'], true);
  // The redaction key lives beside the configuration (else beside the database), never in the store.
  const keyHome = file ? dirname(file) : dirname(String((raw.database as Record<string, unknown> | undefined)?.path ?? DEFAULTS.database.path));
  if ((raw.redaction as Record<string, unknown> | undefined)?.keyFile === undefined) setPath(raw, ['redaction', 'keyFile'], join(keyHome, 'kubetrail-redaction.key'));
  const result = schema.safeParse(raw);
  if (!result.success) {
    const where = file ? ` (${file})` : '';
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(top level)';
      const message =
        issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message;
      return `config ${key}${where}: ${message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  if (result.data.webhook.requireClientCert && !result.data.tls?.clientCaFile) {
    throw new ConfigError(`config webhook.requireClientCert${file ? ` (${file})` : ''}: needs tls.certFile, tls.keyFile and tls.clientCaFile (the CA that signed the apiserver's client certificate)`);
  }
  if (result.data.relay.toKafka && result.data.kafka.brokers.length === 0) {
    throw new ConfigError(`config relay.toKafka${file ? ` (${file})` : ''}: needs kafka.brokers (or KAFKA_BROKERS) to publish to`);
  }
  const brokerless = result.data.alerts.sinks.find((k) => k.type === 'kafka' && !k.brokers && result.data.kafka.brokers.length === 0);
  if (brokerless) {
    throw new ConfigError(`config alerts.sinks (${brokerless.name})${file ? ` (${file})` : ''}: a kafka sink needs brokers, its own or kafka.brokers (KAFKA_BROKERS)`);
  }
  return deepFreeze(result.data);
}

/** Splits `host:port` (or `[v6]:port`); null when it is not one. */
export function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    cur = cur[key] = typeof next === 'object' && next !== null ? { ...(next as object) } : {};
  }
  cur[path.at(-1)!] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * A configuration file's YAML as data. A mapping key that is itself a list or mapping (`? [a]`)
 * is refused with its line: the YAML library would turn it into text and warn on stderr.
 */
function readYaml(text: string, file: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, logLevel: 'error' });
  const error = doc.errors[0];
  if (error) throw new ConfigError(`config file ${file}: not valid YAML (${error.message})`);
  visit(doc, {
    Pair(_, pair) {
      if (!isCollection(pair.key)) return;
      const at = lines.linePos(pair.key.range?.[0] ?? 0);
      throw new ConfigError(`config file ${file}: line ${at.line}: a key that is a list or mapping; keys are names`);
    },
  });
  try {
    return doc.toJS();
  } catch (err) {
    throw new ConfigError(`config file ${file}: not valid YAML (${errorMessage(err)})`);
  }
}

/**
 * The settings of the detections the config describes, run at ingest by every source; null when
 * disabled. Data only: the composition root loads the Sigma rules that `detections.sigma` names.
 */
export function detectorOptionsFrom(config: Readonly<Config>): Omit<DetectorOptions, 'sigma'> | null {
  if (!config.detections.enabled) return null;
  const { enabled: _, sigma: __, ...detections } = config.detections;
  return { breakGlass: config.breakGlass, ...detections };
}

/**
 * How every command that writes opens the store: its durability, caps, identity map, and the
 * redaction key: KUBETRAIL_REDACTION_KEY (hex) in `env`, else redaction.keyFile. Data only: the
 * composition root adds the clock and the detector.
 */
export function storeOptionsFrom(config: Readonly<Config>, env: Record<string, string | undefined>): Omit<StoreWriterOptions, 'clock' | 'detector'> {
  const key = env.KUBETRAIL_REDACTION_KEY;
  return {
    redactionKey: key ? { key: parseRedactionKey(key, 'KUBETRAIL_REDACTION_KEY'), from: 'KUBETRAIL_REDACTION_KEY' } : { file: config.redaction.keyFile! },
    synchronous: config.database.synchronous,
    quarantineMaxBytes: config.quarantine.maxRawBytes,
    identityMap: config.identityMap,
    alertThrottleSeconds: config.alerts.throttleSeconds,
  };
}
