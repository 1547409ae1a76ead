import { join } from 'node:path';
import { expect } from 'chai';
import { makeEvent, startServe, storedAuditKeys, tempDir } from '../../helpers.js';

const startServer = (db: string) => startServe(['--db', db]);

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
          const res = await fetch(`${url}/audit/webhook/crash`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batches[i]) });
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
    const storedIds = () => storedAuditKeys(db);
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
      const res = await fetch(`${url}/audit/webhook/crash`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
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
