import { createReadStream, statSync } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parsePayload } from '../../shared/audit/parsePayload.js';
import type { ParseOutcome } from '../../shared/audit/types.js';
import { InputError, StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { WriteOptions } from '../../shared/storage/port.js';
import type { RecordBatchBuilder } from '../../shared/pipeline/batchBuilder.js';
import type { IngestPipeline } from '../../shared/pipeline/ingestPipeline.js';
import type { BatchStore } from '../../shared/storage/port.js';
import { LineSplitter, parseLine, parseLines, type Line } from './lines.js';

export interface FileIngestOptions {
  /** What each event goes through before it is stored. */
  pipeline: IngestPipeline;
  writer: BatchStore;
  cluster: string;
  /** The cluster was given (--cluster): it holds every event, whatever a provider's record names. */
  clusterGiven?: boolean;
  /** Events per transaction. */
  batchEvents: number;
  /** Called now and then with the bytes read so far (of the input as stored, e.g. compressed). */
  onProgress?: (p: { bytes: number; events: number }) => void;
  /** Documents (not JSON lines) are read whole; this caps their size. */
  maxDocumentBytes?: number;
}

/** Counts of one ingest run, and the first reasons input was quarantined. */
export interface IngestSummary {
  read: number;
  stored: number;
  duplicates: number;
  /** Duplicates with different content; kept in the quarantine table (see WriteResult). */
  conflicts: number;
  quarantined: number;
  /** Records of a managed provider's log that are not audit input (shared/audit/cloud): not stored, not quarantined. */
  skipped: number;
  bytes: number;
  firstRejected: { position: string; reason: string }[];
  /** Files that could not be read (to the end); what was read of them is stored. */
  unreadable: { file: string; reason: string }[];
}

export function emptySummary(): IngestSummary {
  return { read: 0, stored: 0, duplicates: 0, conflicts: 0, quarantined: 0, skipped: 0, bytes: 0, firstRejected: [], unreadable: [] };
}

const MAX_REASONS_KEPT = 20;

/**
 * Commits handed to the writer thread and not yet done, at most. When the writer falls behind,
 * the batches waiting are committed together (writerThread.ts): fewer, larger transactions
 * write each index page once for more events (measured: a tenth fewer bytes written, about 5 %
 * faster than with 2). A batch waiting costs about a megabyte.
 */
const COMMITS_IN_FLIGHT = 8;

/**
 * Accumulates parse outcomes into batches and commits them, keeping the summary. Commits run on
 * the writer thread while the next batch is read here; memory holds at most COMMITS_IN_FLIGHT + 1 batches.
 */
export class BatchAccumulator {
  /**
   * The pending batch of each cluster: the configured one's, and those a managed provider's
   * records name (an EKS log group, a GKE cluster_name, an AKS resourceId), unless the cluster
   * was given (`clusterGiven`), which then holds everything.
   */
  private builders = new Map<string, RecordBatchBuilder>();
  /** Commits in flight, oldest first (they settle in order). */
  private inFlight: Promise<void>[] = [];

  constructor(private readonly opts: Pick<FileIngestOptions, 'pipeline' | 'writer' | 'cluster' | 'batchEvents' | 'clusterGiven'>, readonly summary: IngestSummary = emptySummary()) {}

  add(outcome: ParseOutcome): void {
    for (const e of outcome.events) this.builderOf(this.opts.clusterGiven ? this.opts.cluster : e.cluster ?? this.opts.cluster).addEvent(e);
    for (const r of outcome.rejected) {
      this.builderOf(this.opts.cluster).addRejected(r);
      if (this.summary.firstRejected.length < MAX_REASONS_KEPT) this.summary.firstRejected.push({ position: r.position, reason: r.reason });
    }
    this.summary.read += outcome.events.length + outcome.rejected.length;
    this.summary.skipped += outcome.skipped ?? 0;
  }

  /** True when the pending batch has reached the batch size. */
  get full(): boolean {
    return this.pending >= this.opts.batchEvents;
  }

  get pending(): number {
    let n = 0;
    for (const b of this.builders.values()) n += b.size;
    return n;
  }

  /**
   * Sends the pending batch to be committed (with a `--follow` position, in the same
   * transaction); resolves when it is handed over, once fewer than COMMITS_IN_FLIGHT commits
   * are running. A failed commit rejects here or at drain.
   */
  async flush(options: WriteOptions = {}): Promise<void> {
    if (this.pending === 0 && !options.followOffset) return;
    // One transaction for every cluster's batch (with the `--follow` position, if any).
    const batches = [...this.builders.values()].map((b) => b.finish());
    if (batches.length === 0) batches.push(this.opts.pipeline.builder(this.opts.cluster, 'file').finish());
    this.builders = new Map();
    while (this.inFlight.length >= COMMITS_IN_FLIGHT) await this.inFlight.shift();
    const commit = this.opts.writer.write(batches, options).then((results) => {
      for (const r of results) {
        this.summary.stored += r.accepted;
        this.summary.duplicates += r.duplicates;
        this.summary.quarantined += r.quarantined;
        this.summary.conflicts += r.conflicts;
      }
    });
    // A failed commit surfaces at a later flush or drain; keep it from being unhandled meanwhile.
    commit.catch(() => undefined);
    this.inFlight.push(commit);
  }

  /** Commits what is pending and waits for every commit. */
  async drain(options: WriteOptions = {}): Promise<void> {
    await this.flush(options);
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }

  private builderOf(cluster: string): RecordBatchBuilder {
    let b = this.builders.get(cluster);
    if (!b) this.builders.set(cluster, (b = this.opts.pipeline.builder(cluster, 'file')));
    return b;
  }
}

/**
 * Ingests audit files: JSON lines (the log backend), or one JSON document (an EventList, an
 * array or a pretty-printed Event), each optionally gzipped; `-` is standard input. JSON lines
 * stream with flat memory whatever the file size.
 */
export async function ingestFiles(paths: string[], opts: FileIngestOptions): Promise<IngestSummary> {
  const acc = new BatchAccumulator(opts);
  for (const path of paths) {
    const name = path === '-' ? 'stdin' : path;
    try {
      if (path !== '-' && !statSync(path).isFile()) throw new InputError('not a regular file');
      const input = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 256 * 1024 });
      await ingestStream(input, name, acc, opts);
    } catch (err) {
      // A file that cannot be read (missing, truncated gzip) is reported; what was read of it,
      // and the other files, are still stored.
      if (err instanceof StoreUnavailableError) throw err;
      acc.summary.unreadable.push({ file: name, reason: err instanceof InputError ? err.message : `cannot read it (${errorMessage(err)})` });
    }
  }
  await acc.drain();
  return acc.summary;
}

async function ingestStream(raw: Readable, name: string, acc: BatchAccumulator, opts: FileIngestOptions): Promise<void> {
  const maxDoc = opts.maxDocumentBytes ?? 512 * 1024 * 1024;
  const baseBytes = acc.summary.bytes;
  let lastProgress = 0;
  const report = () => opts.onProgress?.({ bytes: acc.summary.bytes, events: acc.summary.read });
  const splitter = new LineSplitter();
  // JSON lines unless the first non-blank line is not JSON by itself (a pretty-printed document).
  let mode: 'undecided' | 'lines' | 'document' = 'undecided';
  let held: Line[] = [];
  const doc: Buffer[] = [];
  let docSize = 0;

  try {
    for await (const chunk of decode(raw, (n) => (acc.summary.bytes = baseBytes + n))) {
      if (mode !== 'lines') {
        doc.push(chunk);
        docSize += chunk.length;
        if (docSize > maxDoc) {
          throw new InputError(`a single JSON document over ${maxDoc} bytes; write it as JSON lines (one Event per line)`);
        }
        if (mode === 'document') continue;
      }
      let lines = splitter.push(chunk);
      if (mode === 'undecided') {
        held.push(...lines);
        const first = held.find((l) => l.text.trim() !== '');
        if (!first) continue;
        // A pretty-printed document starts with { or [ on a line that is not JSON by itself;
        // anything else (a truncated or garbled first line) is JSON lines with a bad line.
        // (A storage-account export may begin with a UTF-8 byte order mark.)
        const text = first.text.replace(/^\uFEFF/, '');
        const start = text.trimStart()[0];
        mode = isJson(text) || (start !== '{' && start !== '[') ? 'lines' : 'document';
        if (mode === 'document') continue;
        lines = held;
        held = [];
        doc.length = 0;
      }
      for (const line of lines) {
        acc.add(parseLine(line, name));
        if (acc.full) await acc.flush();
      }
      if (performance.now() - lastProgress > 200) {
        lastProgress = performance.now();
        report();
      }
    }
  } catch (err) {
    if (err instanceof InputError || err instanceof StoreUnavailableError) throw err;
    throw new InputError(`cannot read it (${errorMessage(err)})`);
  }
  if (mode === 'document') acc.add(parseDocument(Buffer.concat(doc).toString('utf8').replace(/^\uFEFF/, ''), name));
  else {
    const last = splitter.rest();
    if (last) acc.add(parseLine(last, name));
  }
  report();
}

/** The bytes of `raw`, gunzipped when they start with the gzip magic bytes; counts raw bytes read. */
async function* decode(raw: Readable, onBytes: (total: number) => void): AsyncGenerator<Buffer> {
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head = await it.next();
  if (head.done) return;
  let total = 0;
  async function* all(): AsyncGenerator<Buffer> {
    for (let r: IteratorResult<Buffer> = head; !r.done; r = await it.next()) {
      total += r.value.length;
      onBytes(total);
      yield r.value;
    }
  }
  if (head.value.length >= 2 && head.value[0] === 0x1f && head.value[1] === 0x8b) {
    const gunzip = createGunzip();
    pipeline(Readable.from(all()), gunzip, () => {});
    yield* gunzip as AsyncIterable<Buffer>;
  } else {
    yield* all();
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** One JSON document; when it is not one after all, its lines, each judged alone. */
function parseDocument(text: string, name: string): ParseOutcome {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return parseLines(text, name);
  }
  const outcome = parsePayload(value, name);
  if ('notAudit' in outcome) return { events: [], rejected: [{ position: name, reason: outcome.notAudit, raw: text }] };
  return outcome;
}
