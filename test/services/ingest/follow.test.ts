import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { CLI, makeEvent, storedAuditKeys, tempDir, waitFor } from '../../helpers.js';

/**
 * `kubetrail ingest --follow` as a real process: it tails a file the way the apiserver's log
 * backend writes and rotates it (rename, new file, optional gzip), and is killed and restarted.
 */
describe('kubetrail ingest --follow', function () {
  this.timeout(120_000);
  const dir = tempDir();
  const log = join(dir, 'audit.log');
  const db = join(dir, 'follow.db');
  const config = join(dir, 'kubetrail.yaml');
  writeFileSync(config, 'ingest:\n  followPollMs: 30\n  batchEvents: 4\nlog:\n  level: warn\n');
  const written: string[] = [];
  let child: ChildProcess | null = null;

  const line = () => {
    const e = makeEvent();
    written.push(e.auditID);
    return JSON.stringify(e) + '\n';
  };
  const lines = (n: number) => Array.from({ length: n }, line).join('');
  const storedIds = () => storedAuditKeys(db);
  const expectStored = async (n: number) => {
    await waitFor(() => storedIds().length >= n, `${n} events stored`);
    await new Promise((r) => setTimeout(r, 150));
    const ids = storedIds();
    expect(ids).to.have.length(n);
    expect(new Set(ids)).to.deep.equal(new Set(written.slice(0, n).map((id) => id.replace(/-/g, ''))));
  };
  const start = () => {
    child = spawn(process.execPath, [CLI, 'ingest', '--follow', log, '--db', db, '--config', config, '--output', 'json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return child;
  };
  after(() => child?.kill('SIGKILL'));

  it('stores lines as they are written, waiting for a partial line to be finished', async () => {
    writeFileSync(log, lines(5));
    start();
    await expectStored(5);
    const two = lines(2);
    const next = line();
    appendFileSync(log, two + next.slice(0, 100));
    await expectStored(7);
    appendFileSync(log, next.slice(100) + lines(1));
    await expectStored(9);
  });

  it('finishes the renamed file, then follows the new one, across rotation', async () => {
    renameSync(log, join(dir, 'audit-2026-07-23T14-47-51.123.log'));
    appendFileSync(join(dir, 'audit-2026-07-23T14-47-51.123.log'), lines(2));
    writeFileSync(log, lines(3));
    await expectStored(14);
  });

  it('after SIGKILL and rotations while down (one gzipped), resumes and loses and repeats nothing', async () => {
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    appendFileSync(log, lines(2));
    const rotated = join(dir, 'audit-2026-07-23T15-00-00.000.log');
    renameSync(log, rotated);
    writeFileSync(rotated + '.gz', gzipSync(readFileSync(rotated)));
    rmSync(rotated);
    writeFileSync(log, lines(3));
    start();
    await expectStored(19);
  });

  it('stops on SIGTERM, committing what it read, and prints its summary', async () => {
    appendFileSync(log, lines(1));
    await expectStored(20);
    let out = '';
    child!.stdout!.on('data', (d) => (out += d));
    child!.kill('SIGTERM');
    const code = await new Promise((r) => child!.once('exit', r));
    expect(code).to.equal(0);
    const summary = JSON.parse(out);
    expect(summary).to.deep.include({ stored: 6, duplicates: 0, quarantined: 0 });
    child = null;
  });
});

describe('kubetrail ingest --follow, harder rotations', function () {
  this.timeout(120_000);
  const dir = tempDir();
  const log = join(dir, 'audit.log');
  const db = join(dir, 'follow2.db');
  const config = join(dir, 'kubetrail.yaml');
  // A slow poll, so that two rotations can happen between two looks.
  writeFileSync(config, 'ingest:\n  followPollMs: 1500\nlog:\n  level: warn\n');
  const written: string[] = [];
  let child: ChildProcess | null = null;
  after(() => child?.kill('SIGKILL'));

  /** Events with a large annotation, so that each line is longer than 64 KiB. */
  const lines = (n: number, big = false) =>
    Array.from({ length: n }, () => {
      const e = makeEvent(big ? { annotations: { 'example.com/blob': 'x'.repeat(70_000) } } : {});
      written.push(e.auditID.replace(/-/g, ''));
      return JSON.stringify(e) + '\n';
    }).join('');
  const storedIds = () => storedAuditKeys(db);
  const expectAll = async () => {
    await waitFor(() => storedIds().length >= written.length, `${written.length} events stored`, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(storedIds().sort()).to.deep.equal([...written].sort());
  };
  const start = () => {
    child = spawn(process.execPath, [CLI, 'ingest', '--follow', log, '--db', db, '--config', config], { stdio: 'ignore' });
  };

  it('reads every file when the log rotates twice between two looks', async () => {
    writeFileSync(log, lines(3));
    start();
    await expectAll();
    // Just after a look: two rotations before the next one.
    renameSync(log, join(dir, 'audit-2026-07-23T10-00-00.000.log'));
    writeFileSync(log, lines(4));
    await new Promise((r) => setTimeout(r, 20));
    renameSync(log, join(dir, 'audit-2026-07-23T10-00-01.000.log'));
    writeFileSync(log, lines(2));
    await expectAll();
  });

  it('finds a rotated file again after a restart when its first line is over 64 KiB', async () => {
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    rmSync(log);
    writeFileSync(log, lines(2, true));
    start();
    await expectAll();
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    appendFileSync(log, lines(3, true));
    renameSync(log, join(dir, 'audit-2026-07-23T11-00-00.000.log'));
    writeFileSync(log, lines(1));
    start();
    await expectAll();
  });
});
