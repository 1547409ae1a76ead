import { systemClock } from './clock.js';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { parseTimeBound } from '../../shared/query/timeBound.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { verifyPgChain } from '../../shared/storage/postgres/pgVerify.js';
import { openPgStore } from '../../shared/storage/postgres/pgStore.js';
import { hasChain, verifyChainParallel, type VerifyReport } from '../../shared/storage/sqlite/chain/verifyChain.js';

/** `kubetrail verify [--since T]`: recomputes the store's hash chain; exit 1 when anything fails. */
export async function verifyCommand(config: Readonly<Config>, flags: { since?: string; output: 'text' | 'json' }): Promise<{ rows: number; exitCode: number }> {
  const sinceMicros = flags.since === undefined ? undefined : parseTimeBound(flags.since, '--since', systemClock());
  const started = performance.now();
  const report = await verifyStore(config, sinceMicros);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(flags.output === 'json' ? `${JSON.stringify({ ...report, seconds: Math.round(seconds * 100) / 100 }, null, 2)}\n` : verifyText(report, seconds));
  return { rows: report.rows, exitCode: report.ok ? 0 : 1 };
}

/** The configured store's hash chain, verified: PostgreSQL's streams, or the SQLite file's chain. */
export function verifyStore(config: Readonly<Config>, sinceMicros?: number): Promise<VerifyReport> {
  return config.storage.url ? verifyPg(config.storage.url, sinceMicros) : verifySqlite(config.database.path, sinceMicros);
}

async function verifyPg(url: string, sinceMicros: number | undefined): Promise<Awaited<ReturnType<typeof verifyPgChain>>> {
  const pg = await openPgStore(url, { clock: systemClock });
  try {
    return await verifyPgChain(pg.pool, { sinceMicros });
  } finally {
    await pg.close();
  }
}

async function verifySqlite(path: string, sinceMicros: number | undefined): Promise<VerifyReport> {
  const store = openStore(path, { readonly: true });
  try {
    if (!hasChain(store.db)) throw new InputError(`${path} has no hash chain yet (a store from before kubetrail chained it): run kubetrail serve or ingest once to upgrade it`);
    return await verifyChainParallel(store.db, path, { sinceMicros });
  } finally {
    store.close();
  }
}

export function verifyText(r: VerifyReport & { streams?: { stream: number; writer: string; seq: number; hash: string; committedAt: string }[] }, seconds: number): string {
  const lines = [`${r.ok ? 'OK' : 'FAILED'}: ${r.links.toLocaleString('en-US')} links and ${r.rows.toLocaleString('en-US')} events checked${r.since ? ` (links committed since ${r.since}; earlier ones taken as stored)` : ''} in ${seconds.toFixed(1)} s`];
  if (r.streams) {
    // One chain per writer (PostgreSQL): each head is recorded elsewhere.
    lines.push(r.streams.length > 0 ? `chain heads (one stream per writer; record them elsewhere to detect a rewritten chain):` : 'chain heads: none (no events stored yet)');
    for (const s of r.streams) lines.push(`  stream ${s.stream} (${s.writer}): link ${s.seq} ${s.hash} (committed ${s.committedAt})`);
  } else {
    lines.push(r.head ? `chain head: link ${r.head.seq} ${r.head.hash} (committed ${r.head.committedAt}); record it elsewhere to detect a rewritten chain` : 'chain head: none (no events stored yet)');
  }
  if (r.problems.length > 0) {
    lines.push(`first problem: ${r.problems[0]!.kind}: ${r.problems[0]!.detail}`);
    if (r.problems.length > 1) lines.push(`${r.problems.length - 1}${r.problems.length === 100 ? '+' : ''} more:`, ...r.problems.slice(1).map((p) => `  ${p.kind}: ${p.detail}`));
  }
  if (r.archivedRows > 0) lines.push(`${r.archivedRows.toLocaleString('en-US')} events of archived days are out of the store: kubetrail archive verify DAY checks them against the chain`);
  if (r.unchainedDimensionRows > 0) lines.push(`${r.unchainedDimensionRows} dimension row(s) written ahead of their events are not chained yet`);
  return `${lines.join('\n')}\n`;
}
