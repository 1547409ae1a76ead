import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { CLI, makeEvent, storedAuditKeys, tempDir, waitFor } from '../../helpers.js';

/**
 * One `kubetrail ingest --follow` as a real process over a log file of its own, the way the
 * apiserver's log backend writes and rotates it (rename, new file, optional gzip): each test
 * starts its own, so none depends on another's files or counts.
 */
function follower(config: string) {
  const dir = tempDir();
  const log = join(dir, 'audit.log');
  const db = join(dir, 'follow.db');
  const configFile = join(dir, 'kubetrail.yaml');
  writeFileSync(configFile, config);
  const written: string[] = [];
  let child: ChildProcess | null = null;
  const f = {
    dir,
    log,
    /** `n` new event lines; `big`: each over 64 KiB. */
    lines(n: number, big = false): string {
      return Array.from({ length: n }, () => {
        const e = makeEvent(big ? { annotations: { 'example.com/blob': 'x'.repeat(70_000) } } : {});
        written.push(e.auditID.replace(/-/g, ''));
        return JSON.stringify(e) + '\n';
      }).join('');
    },
    /** Waits until every line written so far is stored, exactly once and nothing else. */
    async expectAllStored(timeoutMs = 30_000): Promise<void> {
      await waitFor(() => storedAuditKeys(db).length >= written.length, `${written.length} events stored`, timeoutMs);
      await new Promise((r) => setTimeout(r, 150));
      expect(storedAuditKeys(db).sort()).to.deep.equal([...written].sort());
    },
    start(): ChildProcess {
      child = spawn(process.execPath, [CLI, 'ingest', '--follow', log, '--db', db, '--config', configFile, '--output', 'json'], { stdio: ['ignore', 'pipe', 'ignore'] });
      return child;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
      const c = child!;
      child = null;
      const exited = new Promise<number | null>((r) => c.once('exit', r));
      c.kill(signal);
      return exited;
    },
    stop(): void {
      child?.kill('SIGKILL');
    },
  };
  return f;
}

describe('kubetrail ingest --follow', function () {
  this.timeout(120_000);
  const FAST = 'ingest:\n  followPollMs: 30\n  batchEvents: 4\nlog:\n  level: warn\n';
  let f: ReturnType<typeof follower>;
  beforeEach(() => (f = follower(FAST)));
  afterEach(() => f.stop());

  it('stores lines as they are written, waiting for a partial line to be finished', async () => {
    writeFileSync(f.log, f.lines(5));
    f.start();
    await f.expectAllStored();
    const next = f.lines(1);
    const cut = (JSON.parse(next) as { auditID: string }).auditID.replace(/-/g, '');
    appendFileSync(f.log, f.lines(2) + next.slice(0, 100));
    // The two whole lines are stored; the cut one not until it is finished.
    const stored = () => storedAuditKeys(join(f.dir, 'follow.db'));
    await waitFor(() => stored().length >= 7, '7 events stored');
    await new Promise((r) => setTimeout(r, 300));
    expect(stored()).to.have.length(7).and.not.include(cut);
    appendFileSync(f.log, next.slice(100) + f.lines(1));
    await f.expectAllStored();
  });

  it('finishes the renamed file, then follows the new one, across rotation', async () => {
    writeFileSync(f.log, f.lines(3));
    f.start();
    await f.expectAllStored();
    const rotated = join(f.dir, 'audit-2026-07-23T14-47-51.123.log');
    renameSync(f.log, rotated);
    appendFileSync(rotated, f.lines(2));
    writeFileSync(f.log, f.lines(3));
    await f.expectAllStored();
  });

  it('after SIGKILL and rotations while down (one gzipped), resumes and loses and repeats nothing', async () => {
    writeFileSync(f.log, f.lines(4));
    f.start();
    await f.expectAllStored();
    await f.kill();
    appendFileSync(f.log, f.lines(2));
    const rotated = join(f.dir, 'audit-2026-07-23T15-00-00.000.log');
    renameSync(f.log, rotated);
    writeFileSync(rotated + '.gz', gzipSync(readFileSync(rotated)));
    rmSync(rotated);
    writeFileSync(f.log, f.lines(3));
    f.start();
    await f.expectAllStored();
  });

  it('stops on SIGTERM, committing what it read, and prints its summary', async () => {
    writeFileSync(f.log, f.lines(5));
    const child = f.start();
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await f.expectAllStored();
    appendFileSync(f.log, f.lines(1));
    await f.expectAllStored();
    expect(await f.kill('SIGTERM')).to.equal(0);
    expect(JSON.parse(out)).to.deep.include({ stored: 6, duplicates: 0, quarantined: 0 });
  });
});

describe('kubetrail ingest --follow, harder rotations', function () {
  this.timeout(120_000);
  // A slow poll, so that two rotations can happen between two looks.
  const SLOW = 'ingest:\n  followPollMs: 1500\nlog:\n  level: warn\n';
  let f: ReturnType<typeof follower>;
  beforeEach(() => (f = follower(SLOW)));
  afterEach(() => f.stop());

  it('reads every file when the log rotates twice between two looks', async () => {
    writeFileSync(f.log, f.lines(3));
    f.start();
    await f.expectAllStored();
    // Just after a look: two rotations before the next one.
    renameSync(f.log, join(f.dir, 'audit-2026-07-23T10-00-00.000.log'));
    writeFileSync(f.log, f.lines(4));
    await new Promise((r) => setTimeout(r, 20));
    renameSync(f.log, join(f.dir, 'audit-2026-07-23T10-00-01.000.log'));
    writeFileSync(f.log, f.lines(2));
    await f.expectAllStored();
  });

  it('finds a rotated file again after a restart when its first line is over 64 KiB', async () => {
    writeFileSync(f.log, f.lines(2, true));
    f.start();
    await f.expectAllStored();
    await f.kill();
    appendFileSync(f.log, f.lines(3, true));
    renameSync(f.log, join(f.dir, 'audit-2026-07-23T11-00-00.000.log'));
    writeFileSync(f.log, f.lines(1));
    f.start();
    await f.expectAllStored();
  });
});
