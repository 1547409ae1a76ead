import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hashToken } from '../shared/access.js';
import { parseEvent } from '../shared/audit/parseEvent.js';
import type { AuditEvent, ParsedEvent } from '../shared/audit/types.js';
import { Detector } from '../shared/detect/engine.js';
import { IngestPipeline, type PipelineOptions } from '../shared/pipeline/ingestPipeline.js';
import type { WriteBatch } from '../shared/pipeline/prepareEvent.js';
import { EventWriter, type WriteResult } from '../shared/storage/sqlite/write/eventWriter.js';
import type { Clock } from '../shared/clock.js';
import type { QueryStore } from '../shared/storage/port.js';
import { PgBatchStore } from '../shared/storage/postgres/pgBatchStore.js';
import { pgQueryStore } from '../shared/storage/postgres/pgQueryStore.js';
import { isPostgresUrl, openPgStore } from '../shared/storage/postgres/pgStore.js';
import { openStore } from '../shared/storage/sqlite/openStore.js';
import { sqliteQueryStore } from '../shared/storage/sqlite/queryStore.js';

/** A fresh temporary folder, removed after the current mocha suite. */
export function tempDir(prefix = 'kubetrail-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The shared corpus beside the repository (`../shared/corpus`). A clone without it skips the
 * tests that read it, saying so; under CI=true its absence is a failure.
 */
export function corpusDir(ctx: Mocha.Context | Mocha.Suite): string | null {
  return sharedPath(ctx, 'corpus');
}

/** A file or folder of `../shared` (the corpus, the specs), read in place; skipped as corpusDir is. */
export function sharedPath(ctx: Mocha.Context | Mocha.Suite, path: string): string | null {
  const dir = resolve(process.cwd(), '..', 'shared', path);
  if (existsSync(dir)) return dir;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${dir} is missing`);
  // eslint-disable-next-line no-console
  console.log(`    (skipped: ${dir} is not there)`);
  if ('skip' in ctx) ctx.skip();
  return null;
}

/** The compiled CLI. */
export const CLI = resolve(process.cwd(), 'dist', 'services', 'cli', 'main.js');

/** The environment for a kubetrail child process: no config file and no Kafka unless a test asks. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBETRAIL_CONFIG: '', ...extra };
  if (!('KAFKA_BROKERS' in extra)) delete env.KAFKA_BROKERS;
  if (!('KUBETRAIL_KAFKA_BROKERS' in extra)) delete env.KUBETRAIL_KAFKA_BROKERS;
  return env;
}

let counter = 0;

/** A valid v1 Event at Metadata level, with `overrides` applied. Each call gets a new auditID. */
export function makeEvent(overrides: Partial<AuditEvent> & Record<string, unknown> = {}): AuditEvent {
  counter++;
  const hex = counter.toString(16).padStart(12, '0');
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `0b6b0f56-8a3e-4c1e-9d1c-${hex}`,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/team-a/pods/web-1',
    verb: 'get',
    user: { username: 'alice', groups: ['dev', 'system:authenticated'] },
    sourceIPs: ['10.0.0.7'],
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
    objectRef: { resource: 'pods', namespace: 'team-a', name: 'web-1', apiVersion: 'v1' },
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-07-23T14:47:51.123456Z',
    stageTimestamp: '2026-07-23T14:47:51.130001Z',
    annotations: {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by RoleBinding "dev/team-a" of ClusterRole "edit" to Group "dev"',
    },
    ...overrides,
  } as AuditEvent;
}

/** The api.tokens lines of a configuration: one token per role, named soc-ROLE. */
export function apiTokenLines(tokens: Record<string, string>): string[] {
  return ['  tokens:', ...Object.entries(tokens).flatMap(([role, t]) => [`    - name: soc-${role}`, `      role: ${role}`, `      sha256: ${hashToken(t)}`])];
}

/** An event as the parser hands it to the store; throws when the parser rejects it. */
export function parsedEvent(e: AuditEvent): ParsedEvent {
  const r = parseEvent(e, 'test');
  if (!('event' in r)) throw new Error(r.reason);
  return r;
}

/** Waits until `check()` is true, polling; fails after `ms` with `what` in the message. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * host:port of a real Kafka broker: KAFKA_BROKERS, else the one `test/infra/kafka/kafka.sh start`
 * runs. Without one the calling tests skip, saying how to start one; under CI=true they fail.
 */
export function kafkaBrokers(ctx: Mocha.Context): string[] | null {
  const fromEnv = process.env.KUBETRAIL_KAFKA_BROKERS || process.env.KAFKA_BROKERS;
  let brokers = fromEnv ? fromEnv.split(',').map((b) => b.trim()) : null;
  if (!brokers) {
    const file = resolve(homedir(), '.cache', 'kubetrail', 'run', 'kafka', 'brokers');
    if (existsSync(file)) brokers = [readFileSync(file, 'utf8').trim()];
  }
  if (brokers) return brokers;
  if (process.env.CI === 'true') throw new Error('CI=true but no Kafka broker: .ci/run must start one (test/infra/kafka/kafka.sh start)');
  // eslint-disable-next-line no-console
  console.log('    (skipped: no Kafka broker; run `bash test/infra/kafka/kafka.sh start` or set KAFKA_BROKERS)');
  ctx.skip();
  return null;
}

/**
 * The URL of a real PostgreSQL server to make test databases on: KUBETRAIL_TEST_POSTGRES_URL, as
 * `test/infra/postgres/pg.sh start` prints it. Without one the calling tests skip, saying how to
 * start one; under CI=true they fail.
 */
export function postgresUrl(ctx: Mocha.Context): string | null {
  const url = process.env.KUBETRAIL_TEST_POSTGRES_URL;
  if (url) return url;
  if (process.env.CI === 'true') throw new Error('CI=true but no PostgreSQL: .ci/run must start one (test/infra/postgres/pg.sh start)');
  // eslint-disable-next-line no-console
  console.log('    (skipped: no PostgreSQL; run `bash test/infra/postgres/pg.sh start` and set KUBETRAIL_TEST_POSTGRES_URL)');
  ctx.skip();
  return null;
}

/** A new, empty database on the server at `serverUrl`: its URL, and how to drop it. */
export async function freshPgDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `kubetrail_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The auditIDs stored in the database at `db`, as lower-case hex without dashes; [] while it is being created. */
export function storedAuditKeys(db: string): string[] {
  if (!existsSync(db)) return [];
  const conn = new BetterSqlite3(db, { readonly: true, fileMustExist: true });
  try {
    return (conn.prepare('SELECT lower(hex(audit_id)) AS h FROM events').all() as { h: string }[]).map((r) => r.h);
  } catch (err) {
    if (/no such table/.test((err as Error).message)) return [];
    throw err;
  } finally {
    conn.close();
  }
}

/**
 * `kubetrail serve ARGS` as a child process; resolves with it and its URL once it listens, and
 * `logs()`: everything it has written so far (its log goes to stderr, anything else to stdout).
 */
export function startServe(args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<{ child: ChildProcess; url: string; logs: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let buf = '';
  const logs = () => buf;
  child.stdout!.on('data', (d: Buffer) => (buf += d.toString()));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m) resolve({ child, url: m[1]!, logs });
    });
    child.once('exit', (code) => reject(new Error(`kubetrail serve exited with ${code}: ${buf}`)));
  });
}

/**
 * `kubetrail ARGS` as a child process, asynchronously: for tests whose servers answer from
 * this process (a spawnSync would block them).
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** A deterministic random generator (mulberry32) in [0, 1), so that a failing case can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The redaction key of test stores (production keeps its own outside the store). */
export const TEST_REDACTION_KEY = Buffer.alloc(32, 7);

/** The ingest pipeline as production composes it (the built-in detections, users split from tokens), with the tests' key unless told otherwise. */
export function testPipeline(options: Partial<PipelineOptions> = {}): IngestPipeline {
  return new IngestPipeline({ redactionKey: TEST_REDACTION_KEY, detector: new Detector(), splitTokens: true, ...options });
}

/**
 * Stores batches as production does, on this thread: through the pipeline (without detections
 * unless one is given), then the writer, in one transaction.
 */
export function writeBatches(writer: EventWriter, batches: WriteBatch[], pipeline = testPipeline({ detector: null })): WriteResult[] {
  return writer.writeRecords(batches.map((b) => pipeline.prepare(b)));
}

/** A store of either backend, as the tests use one: batches written through the pipeline, the query side, close(). */
export interface TestStore {
  write(batches: WriteBatch[], pipeline?: IngestPipeline): Promise<WriteResult[]>;
  query: QueryStore;
  close(): Promise<void>;
}

/** Opens the store at `db` (a SQLite path or a postgres:// URL, as onEachBackend gives) with production's writer. */
export async function openTestStore(db: string, clock: Clock): Promise<TestStore> {
  const prepare = (batches: WriteBatch[], pipeline = testPipeline({ detector: null })) => batches.map((b) => pipeline.prepare(b));
  if (isPostgresUrl(db)) {
    const store = await openPgStore(db, { clock });
    const writer = await PgBatchStore.open(store, { clock, redactionKey: TEST_REDACTION_KEY });
    return { write: (batches, pipeline) => writer.write(prepare(batches, pipeline)), query: pgQueryStore(store), close: () => writer.close() };
  }
  const store = openStore(db, { clock });
  const writer = new EventWriter(store, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY });
  return {
    write: async (batches, pipeline) => writer.writeRecords(prepare(batches, pipeline)),
    query: sqliteQueryStore(store.db),
    close: async () => store.close(),
  };
}

/**
 * Declares a suite once for both backends: on a SQLite file, and on a new PostgreSQL database
 * when a server is at hand (postgresUrl: skipped with a message outside CI, required under
 * CI=true). `suite` gets the store to pass as `--db`, known once the suite's hooks have run.
 */
export function onEachBackend(title: string, suite: (db: () => string) => void): void {
  describe(`${title} (SQLite)`, function () {
    const path = join(tempDir(), 'store.db');
    suite(() => path);
  });
  describe(`${title} (PostgreSQL)`, function () {
    let url = '';
    let drop: (() => Promise<void>) | null = null;
    before(async function () {
      const server = postgresUrl(this);
      if (!server) return;
      const db = await freshPgDatabase(server);
      url = db.url;
      drop = db.drop;
    });
    after(async () => drop?.());
    suite(() => url);
  });
}
