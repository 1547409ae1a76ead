import { systemClock } from './clock.js';
import cliProgress from 'cli-progress';
import { before, dayName, startOfUtcDay, utcDay } from '../../shared/calendar.js';
import { retentionJobOf, type Config } from '../../shared/config.js';
import { pipelineOf } from './pipeline.js';
import { InputError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { openIngestStore } from './ingestStore.js';
import { ingestFiles, type IngestSummary } from '../ingest/files.js';
import { followFile } from '../ingest/follow.js';

export interface IngestFlags {
  cluster?: string;
  follow?: boolean;
  output: 'text' | 'json';
  config: Readonly<Config>;
}

/** `kubetrail ingest FILE… | -`: returns the exit code (2 when anything was quarantined or a file was unreadable). */
export async function ingestCommand(files: string[], flags: IngestFlags): Promise<number> {
  const { config } = flags;
  if (flags.follow && (files.length !== 1 || files[0] === '-')) {
    throw new InputError('--follow: give exactly one log file to follow (not -)');
  }
  const log = createLogger(config.log.level);
  const writer = await openIngestStore(config, process.env);
  const pipeline = pipelineOf(config, writer);
  const cluster = flags.cluster ?? config.cluster;
  let oldest = Infinity;
  writer.onCommitted((a) => (oldest = Math.min(oldest, a.oldest)));
  const progress = createProgress();
  let summary: IngestSummary;
  try {
    if (flags.follow) {
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      summary = await followFile(files[0]!, {
        pipeline,
        writer,
        cluster,
        clusterGiven: flags.cluster !== undefined,
        batchEvents: config.ingest.batchEvents,
        pollMs: config.ingest.followPollMs,
        log,
        signal: abort.signal,
        onProgress: progress?.update,
      });
    } else {
      summary = await ingestFiles(files, { pipeline, writer, cluster, clusterGiven: flags.cluster !== undefined, batchEvents: config.ingest.batchEvents, onProgress: progress?.update });
    }
  } finally {
    progress?.stop();
    await writer.close();
  }
  process.stdout.write(flags.output === 'json' ? JSON.stringify(summary) + '\n' : formatSummary(summary));
  // Retention runs on the SQLite store (not yet on PostgreSQL).
  const note = config.storage.url ? null : beforeHotWindow(oldest, config);
  if (note) process.stderr.write(`kubetrail: note: ${note}\n`);
  return summary.quarantined > 0 || summary.unreadable.length > 0 ? 2 : 0;
}

/** What retention will do with events stored before the hot window, or null when none was. */
function beforeHotWindow(oldestMicros: number, config: Readonly<Config>): string | null {
  const job = retentionJobOf(config);
  const hotFrom = startOfUtcDay(before(systemClock(), { days: job.hotDays }));
  if (!(oldestMicros < hotFrom)) return null;
  return (
    `events from ${dayName(utcDay(oldestMicros))} on lie before the hot window (retention.hotDays ${job.hotDays}: from ${dayName(utcDay(hotFrom))}); ` +
    `the retention job (kubetrail retention run, and serve daily) will move those days to archives in ${job.dir}, where kubetrail archive restore DAY brings one back. ` +
    `To keep them in the store, raise retention.hotDays.`
  );
}

function formatSummary(s: IngestSummary): string {
  const lines = [
    `read ${s.read}, stored ${s.stored}, duplicates ${s.duplicates}, quarantined ${s.quarantined}${s.skipped > 0 ? `, skipped ${s.skipped} provider record(s) that are not audit events` : ''} (${formatBytes(s.bytes)})`,
  ];
  for (const u of s.unreadable) lines.push(`${u.file}: ${u.reason}`);
  if (s.conflicts > 0) {
    lines.push(`${s.conflicts} of the duplicates differ from the stored event (auditID reused?): kept in the quarantine table for review`);
  }
  if (s.quarantined > 0) {
    lines.push('quarantined (first reasons):');
    for (const r of s.firstRejected.slice(0, 10)) lines.push(`  ${r.position}: ${r.reason}`);
    lines.push('the quarantined input is kept in the quarantine table of the database');
  }
  return lines.join('\n') + '\n';
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A progress line on stderr when it is a terminal: events, events/s and bytes read. */
function createProgress(): { update: (p: { bytes: number; events: number }) => void; stop: () => void } | null {
  if (!process.stderr.isTTY) return null;
  const started = systemClock();
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '{events} events  {rate} events/s  {mib} MiB read', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(0, 0, { events: 0, rate: 0, mib: '0.0' });
  return {
    update: ({ bytes, events }) => {
      const secs = Math.max((systemClock() - started) / 1000, 0.001);
      bar.update(0, { events, rate: Math.round(events / secs), mib: (bytes / 1024 ** 2).toFixed(1) });
    },
    stop: () => bar.stop(),
  };
}
