import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import { CLI, cliEnv, makeEvent, tempDir } from '../../helpers.js';

/** Starts `kubetrail serve` as a child process and resolves with its URL once it listens. */
function startServer(db: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: cliEnv(),
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(buf);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`kubetrail serve exited with ${code}: ${buf}`)));
  });
}

/**
 * The durability promise: a 2xx means committed. A server killed with SIGKILL while clients
 * stream batches keeps every batch it acknowledged, and re-sent batches are not stored twice.
 */
describe('crash safety of the webhook (SIGKILL mid-stream)', function () {
  this.timeout(120_000);
  const dir = tempDir();
  const db = join(dir, 'crash.db');

  it('keeps every acknowledged batch and stores none twice', async () => {
    const batches = Array.from({ length: 400 }, () => ({
      kind: 'EventList',
      apiVersion: 'audit.k8s.io/v1',
      items: Array.from({ length: 50 }, () => makeEvent()),
    }));
    const acked = new Set<number>();
    let { child, url } = await startServer(db);
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (next < batches.length) {
        const i = next++;
        try {
          const res = await fetch(`${url}/audit/webhook/crash`, { method: 'POST', body: JSON.stringify(batches[i]) });
          if (res.status === 200) acked.add(i);
          await res.arrayBuffer();
        } catch {
          // The connection died with the server: this batch was not acknowledged.
        }
        if (!killed && acked.size >= 60) {
          killed = true;
          child.kill('SIGKILL');
        }
        if (killed) return;
      }
    };
    await Promise.all(Array.from({ length: 6 }, sender));
    expect(killed).to.equal(true);
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));

    // What the store holds after the crash: every acknowledged batch, whole.
    const storedIds = () => {
      const conn = new BetterSqlite3(db, { readonly: true });
      try {
        return (conn.prepare('SELECT lower(hex(audit_id)) AS h FROM events').all() as { h: string }[]).map((r) => r.h);
      } finally {
        conn.close();
      }
    };
    ({ child, url } = await startServer(db));
    const afterCrash = new Set(storedIds());
    const key = (id: string) => id.replace(/-/g, '');
    for (const i of acked) {
      for (const e of batches[i]!.items) expect(afterCrash.has(key(e.auditID)), `acknowledged batch ${i}`).to.equal(true);
    }

    // The apiserver re-sends what it got no answer for; some of it may already be stored.
    let duplicates = 0;
    for (const [i, b] of batches.entries()) {
      if (acked.has(i)) continue;
      const res = await fetch(`${url}/audit/webhook/crash`, { method: 'POST', body: JSON.stringify(b) });
      expect(res.status).to.equal(200);
      duplicates += ((await res.json()) as { duplicates: number }).duplicates;
    }
    const final = storedIds();
    expect(final).to.have.length(batches.length * 50);
    expect(new Set(final).size).to.equal(final.length);
    expect(duplicates).to.equal(afterCrash.size - [...acked].length * 50);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
});
