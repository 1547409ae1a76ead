import { systemClock } from './clock.js';
import { archiveDirOf, retentionJobOf, shortRetentionWarning, type Config } from '../../shared/config.js';
import { openStore } from '../../shared/storage/sqlite/openStore.js';
import { listArchives, parseDay, restoreDay, runRetention, verifyArchive, type RetentionRun } from '../../shared/storage/sqlite/archive/retention.js';
import { InputError } from '../../shared/errors.js';
import { writeRows, type OutputFormat } from './output.js';
import { openPgStore, type PgStore } from '../../shared/storage/postgres/pgStore.js';
import { listPgArchives, restorePgDay, runPgRetention, verifyPgArchive } from '../../shared/storage/postgres/pgRetention.js';

/** Runs `work` on the PostgreSQL database storage.url names, closed after. */
async function onPg<T>(config: Readonly<Config>, work: (pg: PgStore) => Promise<T>): Promise<T> {
  const pg = await openPgStore(config.storage.url!, { clock: systemClock });
  try {
    return await work(pg);
  } finally {
    await pg.close();
  }
}

/** `kubetrail retention run` and `kubetrail archive list|verify|restore` (PCI DSS 10.5.1). */

export async function retentionRunCommand(config: Readonly<Config>): Promise<number> {
  const warning = shortRetentionWarning(config);
  if (warning) process.stderr.write(`kubetrail: warning: ${warning}\n`);
  const job = retentionJobOf(config);
  const now = systemClock() * 1000;
  let r: RetentionRun;
  if (config.storage.url) {
    const ran = await onPg(config, (pg) => runPgRetention(pg.pool, job, now));
    if (!ran) throw new InputError('another kubetrail is running retention on this database now; run again when it has finished');
    r = ran;
  } else {
    const store = openStore(config.database.path, { clock: systemClock });
    try {
      r = await runRetention(store.db, job, now);
    } finally {
      store.close();
    }
  }
  const kept = job.deleteArchivesAfterDays === undefined
    ? 'archives are kept until you delete them (retention.deleteArchivesAfterDays is not set)'
    : `archives are deleted after ${job.deleteArchivesAfterDays} days (retention.deleteArchivesAfterDays)`;
  const lines = [
    `hot window: from ${r.hotFrom} (retention.hotDays ${job.hotDays}); archives in ${job.dir}; ${kept}`,
    ...r.archived.map((a) => `archived ${a.day}: ${a.rows.toLocaleString('en-US')} events to ${a.file}`),
    ...r.expired.map((d) => `deleted the archive of ${d} (older than retention.deleteArchivesAfterDays ${job.deleteArchivesAfterDays})`),
  ];
  if (r.archived.length === 0 && r.expired.length === 0) lines.push('nothing to do');
  process.stdout.write(`${lines.join('\n')}\n`);
  return r.archived.reduce((n, a) => n + a.rows, 0);
}

export async function archiveListCommand(config: Readonly<Config>, flags: { output: OutputFormat }): Promise<number> {
  if (config.storage.url) {
    const archives = await onPg(config, (pg) => listPgArchives(pg.pool));
    const rows = archives.map((a) => ({ ...a, state: a.expiredAt ? 'deleted' : a.restoredAt ? 'restored' : 'archived', links: a.links.length }));
    return writeRows(process.stdout, rows, ['day', 'part', 'state', 'rows', 'file', 'sha256', 'links', 'archivedAt', 'restoredAt', 'expiredAt'], flags.output);
  }
  const store = openStore(config.database.path, { readonly: true });
  try {
    const rows = listArchives(store.db).map((a) => ({ ...a, state: a.expiredAt ? 'deleted' : a.restoredAt ? 'restored' : 'archived', links: a.links.length }));
    return await writeRows(process.stdout, rows, ['day', 'state', 'rows', 'file', 'sha256', 'links', 'archivedAt', 'restoredAt', 'expiredAt'], flags.output);
  } finally {
    store.close();
  }
}

export async function archiveVerifyCommand(config: Readonly<Config>, day: string): Promise<{ rows: number; exitCode: number }> {
  const store = config.storage.url ? null : openStore(config.database.path, { readonly: true });
  try {
    const r = store ? await verifyArchive(store.db, parseDay(day), archiveDirOf(config)) : await onPg(config, (pg) => verifyPgArchive(pg.pool, parseDay(day), archiveDirOf(config)));
    process.stdout.write(r.ok ? `OK: the archive of ${r.day} (${r.rows.toLocaleString('en-US')} events) matches its SHA-256 and the hash chain\n` : `FAILED: the archive of ${r.day}:\n${r.problems.map((p) => `  ${p}`).join('\n')}\n`);
    return { rows: r.rows, exitCode: r.ok ? 0 : 1 };
  } finally {
    store?.close();
  }
}

export async function archiveRestoreCommand(config: Readonly<Config>, day: string): Promise<number> {
  const store = config.storage.url ? null : openStore(config.database.path, { clock: systemClock });
  try {
    const r = store
      ? await restoreDay(store.db, parseDay(day), archiveDirOf(config), systemClock() * 1000)
      : await onPg(config, (pg) => restorePgDay(pg.pool, parseDay(day), archiveDirOf(config), systemClock() * 1000));
    process.stdout.write(`restored ${r.day}: ${r.rows.toLocaleString('en-US')} events are back in the store (the retention job archives the day again after a week)\n`);
    return r.rows;
  } finally {
    store?.close();
  }
}
