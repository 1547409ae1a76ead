import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../../shared/log.js';
import type { IngestPipeline } from '../../shared/pipeline/ingestPipeline.js';
import type { BatchStore } from '../../shared/storage/port.js';
import { BatchAccumulator, type IngestSummary } from './files.js';
import { LineSplitter, parseLine, type Line } from './lines.js';

export interface FollowOptions {
  pipeline: IngestPipeline;
  writer: BatchStore;
  cluster: string;
  clusterGiven?: boolean;
  batchEvents: number;
  pollMs: number;
  log: Logger;
  signal: AbortSignal;
  onProgress?: (p: { bytes: number; events: number }) => void;
}

/** Where we are in the followed file; saved in the same transaction as the events before it. */
interface Position {
  device: number;
  inode: number;
  headHash: string;
  offset: number;
  line: number;
}

const CHUNK = 1 << 20;

/**
 * Tails a log-backend file like `tail -F`, storing each complete line. The position is saved
 * in the same transaction as the events before it, so a restart resumes exactly where the last
 * commit ended. On a rotation (the apiserver renames the file and opens a new one) the renamed
 * file is finished through its open descriptor, files rotated after it (two rotations between
 * two looks) are read whole, then the new file is followed. After a restart, files rotated
 * while kubetrail was down are found again by inode or by the hash of their head (which also
 * finds them once gzipped) and read to the end.
 */
export async function followFile(path: string, opts: FollowOptions): Promise<IngestSummary> {
  const abs = resolve(path);
  const acc = new BatchAccumulator({ pipeline: opts.pipeline, writer: opts.writer, cluster: opts.cluster, clusterGiven: opts.clusterGiven, batchEvents: Number.MAX_SAFE_INTEGER });
  const log = opts.log.child({ follow: abs });
  const flush = (pos: Position) => acc.flush({ followOffset: { ...pos, path: abs, cluster: opts.cluster } });

  if (!(await waitForFile(abs, opts))) return acc.summary;
  // The identity of the file comes from the open descriptor, so that a rotation between a
  // stat and an open cannot pair one file's inode with another file's content.
  let fh: FileHandle = await open(abs, 'r');
  let st: Stats | null = await fh.stat();
  const saved = opts.writer.followOffset(abs);
  let pos: Position = { device: st.dev, inode: st.ino, headHash: '', offset: 0, line: 0 };
  // An inode number can be reused once a rotated file is deleted: the first line must match too.
  const sameFile = async (file: string, s: Stats, p: Position) =>
    s.ino === p.inode && s.dev === p.device && (p.headHash === '' || (await readHeadHash(file)) === p.headHash);
  if (saved && saved.offset <= st.size && (await sameFile(abs, st, saved))) {
    pos = saved;
  } else if (saved) {
    // Rotated (or replaced) while we were not running: finish the old file, then any rotated after it.
    const backlog = await rotatedSince(abs, saved, sameFile);
    if (backlog.length === 0) log.warn('the file followed before was rotated away and cannot be found; starting at the new file');
    for (const [i, file] of backlog.entries()) {
      log.info({ file, from: i === 0 ? saved.offset : 0 }, 'reading a file rotated while kubetrail was down');
      await ingestWhole(file, i === 0 ? saved : null, acc, opts.batchEvents, flush);
    }
  }

  let splitter = new LineSplitter(pos.offset, pos.line);
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    while (!opts.signal.aborted) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, splitter.consumed);
      if (bytesRead > 0) {
        const lines = splitter.push(Buffer.from(buf.subarray(0, bytesRead)));
        for (const line of lines) {
          if (pos.headHash === '' && line.number === 1) pos.headHash = hashHead(line.text);
          acc.add(parseLine(line, abs));
          pos.offset = line.end;
          pos.line = line.number;
        }
        acc.summary.bytes += bytesRead;
        if (lines.length > 0 && (acc.pending >= opts.batchEvents || bytesRead < CHUNK)) await flush(pos);
        opts.onProgress?.({ bytes: acc.summary.bytes, events: acc.summary.read });
        if (bytesRead === CHUNK) continue;
      }
      st = await statOrNull(abs);
      const rotated = !st || st.ino !== pos.inode || st.dev !== pos.device;
      if (rotated) {
        // Finish the renamed file: lines written before the rename are still in it.
        for (;;) {
          const r = await fh.read(buf, 0, CHUNK, splitter.consumed);
          if (r.bytesRead === 0) break;
          for (const line of splitter.push(Buffer.from(buf.subarray(0, r.bytesRead)))) {
            acc.add(parseLine(line, abs));
            pos.offset = line.end;
            pos.line = line.number;
          }
        }
        const last = splitter.rest();
        if (last) {
          acc.add(parseLine(last, abs));
          pos.offset = last.end;
        }
        // Files rotated after that one and before the current file (two rotations between two
        // looks) are read whole.
        const [, ...between] = await rotatedSince(abs, pos, sameFile);
        for (const file of between) {
          log.info({ file }, 'reading a file rotated between two looks');
          await ingestWhole(file, null, acc, opts.batchEvents, flush);
        }
        if (!(await waitForFile(abs, opts))) break;
        await fh.close();
        fh = await open(abs, 'r');
        st = await fh.stat();
        log.info({ lines: pos.line }, 'file rotated; following the new one');
        pos = { device: st.dev, inode: st.ino, headHash: '', offset: 0, line: 0 };
        splitter = new LineSplitter();
        await flush(pos);
        continue;
      }
      if (st && st.size < pos.offset) {
        log.warn({ size: st.size, offset: pos.offset }, 'file truncated in place; reading it again from the start');
        pos = { ...pos, headHash: '', offset: 0, line: 0 };
        splitter = new LineSplitter();
        await flush(pos);
        continue;
      }
      await sleep(opts.pollMs, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  } finally {
    await fh.close();
  }
  await flush(pos);
  await acc.drain();
  return acc.summary;
}

/**
 * Reads a whole rotated file (maybe gzipped), from `from` when given, committing every
 * `batchEvents` with the position in that file, so that a restart mid-way resumes there.
 */
async function ingestWhole(
  file: string,
  from: Position | null,
  acc: BatchAccumulator,
  batchEvents: number,
  flush: (pos: Position) => Promise<void>,
): Promise<void> {
  const st = await stat(file);
  const pos: Position = { device: st.dev, inode: st.ino, headHash: from?.headHash ?? '', offset: from?.offset ?? 0, line: from?.line ?? 0 };
  const skip = pos.offset;
  const gz = file.endsWith('.gz');
  const raw = createReadStream(file, gz || skip === 0 ? {} : { start: skip });
  const stream = gz ? raw.pipe(createGunzip()) : raw;
  const splitter = new LineSplitter(gz ? 0 : skip, gz ? 0 : pos.line);
  const take = async (line: Line) => {
    if (line.number === 1) pos.headHash = hashHead(line.text);
    if (line.end <= skip) return;
    acc.add(parseLine(line, file));
    pos.offset = line.end;
    pos.line = line.number;
    if (acc.pending >= batchEvents) await flush(pos);
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) for (const line of splitter.push(chunk)) await take(line);
  const last = splitter.rest();
  if (last) await take(last);
  await flush(pos);
}

/**
 * The rotated siblings of `path` to read after a restart: the file we were in (matched by
 * inode, else by first-line hash), then every sibling rotated after it, oldest first.
 */
async function rotatedSince(
  path: string,
  saved: Position,
  sameFile: (file: string, s: Stats, p: Position) => Promise<boolean>,
): Promise<string[]> {
  const dir = dirname(path);
  const stem = basename(path, extname(path));
  const siblings: { file: string; st: Stats }[] = [];
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    if (file === path || !name.startsWith(`${stem}-`)) continue;
    const st = await statOrNull(file);
    if (st?.isFile()) siblings.push({ file, st });
  }
  siblings.sort((a, b) => a.st.mtimeMs - b.st.mtimeMs || a.file.localeCompare(b.file));
  let start = -1;
  for (const [i, s] of siblings.entries()) if (await sameFile(s.file, s.st, saved)) start = i;
  if (start < 0 && saved.headHash !== '') {
    for (const [i, s] of siblings.entries()) if ((await readHeadHash(s.file)) === saved.headHash) start = i;
  }
  return start < 0 ? [] : siblings.slice(start).map((s) => s.file);
}

/** How much of the first line identifies a file: enough to tell files apart, never all of a huge line. */
const HEAD_BYTES = 4096;

/** The hash of a file's head: its first line, or its first HEAD_BYTES bytes when the line is longer. */
async function readHeadHash(file: string): Promise<string> {
  const raw = createReadStream(file, file.endsWith('.gz') ? {} : { end: HEAD_BYTES });
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      head = Buffer.concat([head, chunk]);
      if (head.includes(10) || head.length >= HEAD_BYTES) break;
    }
  } catch {
    return '';
  } finally {
    raw.destroy();
  }
  const nl = head.indexOf(10);
  if (nl < 0 && head.length < HEAD_BYTES) return ''; // no complete head yet
  let end = nl < 0 ? HEAD_BYTES : Math.min(nl, HEAD_BYTES);
  if (nl >= 0 && nl <= HEAD_BYTES && end > 0 && head[end - 1] === 13) end--;
  return hashHeadBytes(head.subarray(0, end));
}

/** The head hash of a file whose first line is `text` (as LineSplitter gives it). */
function hashHead(text: string): string {
  return hashHeadBytes(Buffer.from(text, 'utf8').subarray(0, HEAD_BYTES));
}

function hashHeadBytes(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

async function waitForFile(path: string, opts: FollowOptions): Promise<Stats | null> {
  let warned = false;
  while (!opts.signal.aborted) {
    const st = await statOrNull(path);
    if (st) return st;
    if (!warned) opts.log.info({ path }, 'waiting for the file to appear');
    warned = true;
    await sleep(opts.pollMs, undefined, { signal: opts.signal }).catch(() => undefined);
  }
  return null;
}
