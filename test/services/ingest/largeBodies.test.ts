import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { cliEnv, makeEvent, startServe, tempDir } from '../../helpers.js';

/**
 * Three 30 MB bodies of 2.4 million keys each, sent at once to a real `kubetrail serve`: they
 * are prepared one at a time off the thread that answers, so /healthz keeps answering and memory
 * stays bounded. Figures are printed. The bounds are loose, so that a slow machine passes them:
 * prepared on the event loop, as before, the slowest /healthz took seconds (16 s for one body)
 * and the process 1.77 GB; here about 0.3 s (the probe shares its thread with the uploads)
 * and 0.9 GB.
 */
describe('large webhook bodies (real serve)', function () {
  this.timeout(240_000);
  let serve: ChildProcess;
  let url = '';

  before(async () => {
    ({ child: serve, url } = await startServe(['--services', 'ingest'], cliEnv({ KUBETRAIL_DB: join(tempDir(), 'k.db') })));
  });
  after(() => serve?.kill('SIGTERM'));

  /** Peak resident memory of the serve process, in MB. */
  const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${serve.pid}/status`, 'utf8'))![1]) / 1024;

  function bigBody(seed: number): string {
    const keys: string[] = [];
    for (let i = 0; i < 2_400_000; i++) keys.push(`"k${seed}${i.toString(16).padStart(6, "0")}":1`);
    const event = JSON.stringify(makeEvent({ level: 'Request', verb: 'create', requestObject: 'BIG' }));
    return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${event.replace('"BIG"', `{${keys.join(',')}}`)}]}`;
  }

  it('keeps /healthz answering and memory bounded while three 30 MB bodies are processed', async () => {
    const bodies = [1, 2, 3].map(bigBody);
    expect(bodies[0]!.length).to.be.greaterThan(30_000_000);
    let slowest = 0;
    let probes = 0;
    let done = false;
    const probe = (async () => {
      while (!done) {
        const t = performance.now();
        const res = await fetch(`${url}/healthz`);
        expect(res.status).to.equal(200);
        await res.text();
        slowest = Math.max(slowest, performance.now() - t);
        probes++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const answers = await Promise.all(bodies.map((body) => fetch(`${url}/audit/webhook/big`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status)));
    done = true;
    await probe;
    const rss = peakRssMb();
    console.log(`      three 30 MB bodies: answers ${answers.join(', ')}; /healthz slowest ${slowest.toFixed(0)} ms over ${probes} probes; serve peak RSS ${rss.toFixed(0)} MB`);
    expect(answers).to.deep.equal([200, 200, 200]);
    expect(probes).to.be.greaterThan(5);
    expect(slowest).to.be.lessThan(1000);
    expect(rss).to.be.lessThan(1200);
  });
});
