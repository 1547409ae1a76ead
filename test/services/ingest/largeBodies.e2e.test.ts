import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { cliEnv, makeEvent, startServe, tempDir } from '../../helpers.js';

/**
 * Three 30 MB bodies of 2.4 million keys each, sent at once to a real `kubetrail serve`: bodies
 * over 4 MB are scanned on the body thread instead of decoded into objects, their large request
 * and response bodies redacted as they stream (shared/audit/largeBody.ts), so /healthz keeps
 * answering and memory stays bounded. /healthz is probed from a process of its own, as a kubelet
 * would, not from the one that sends 90 MB. Figures are printed: decoded whole on the event loop,
 * as before, the slowest /healthz took seconds (16 s for one body) and the process 1.77 GB;
 * decoded whole on the body thread, 0.3 s and 0.97 GB; scanned, about 60 ms and 350 MB.
 */
describe('large webhook bodies (real serve)', function () {
  this.timeout(240_000);
  let serve: ChildProcess;
  let url = '';
  const dir = tempDir();

  before(async () => {
    ({ child: serve, url } = await startServe(['--services', 'ingest,api'], cliEnv({ KUBETRAIL_DB: join(dir, 'k.db') })));
  });
  after(() => serve?.kill('SIGTERM'));

  /** Peak resident memory of the serve process, in MB. */
  const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${serve.pid}/status`, 'utf8'))![1]) / 1024;

  function bigBody(seed: number): string {
    const keys: string[] = [];
    for (let i = 0; i < 2_400_000; i++) keys.push(`"k${seed}${i.toString(16).padStart(6, "0")}":1`);
    const event = JSON.stringify(makeEvent({ auditID: `big-${seed}`, level: 'Request', verb: 'create', requestObject: 'BIG' }));
    return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[${event.replace('"BIG"', `{${keys.join(',')}}`)}]}`;
  }

  /** /healthz probed every 50 ms from another process until it is told to stop: the latencies, in ms. */
  function probeFromOutside(): { stop: () => Promise<number[]> } {
    const script = `
      const times = []; let stop = false; process.stdin.on('data', () => (stop = true));
      (async () => { while (!stop) { const t = performance.now(); const r = await fetch(${JSON.stringify(`${url}/healthz`)});
        if (r.status !== 200) throw new Error('healthz ' + r.status); await r.text(); times.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 50)); } console.log(JSON.stringify(times)); process.exit(0); })();`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    return {
      stop: async () => {
        child.stdin.end('stop');
        expect(await exited).to.equal(0);
        return JSON.parse(out) as number[];
      },
    };
  }

  it('keeps /healthz answering and memory bounded while three 30 MB bodies are processed', async () => {
    const bodies = [1, 2, 3].map(bigBody);
    expect(bodies[0]!.length).to.be.greaterThan(30_000_000);
    const probe = probeFromOutside();
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    const answers = await Promise.all(bodies.map((body) => fetch(`${url}/audit/webhook/big`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status)));
    const took = (performance.now() - started) / 1000;
    const times = (await probe.stop()).sort((a, b) => a - b);
    const p95 = times[Math.floor(times.length * 0.95)]!;
    const rss = peakRssMb();
    console.log(`      three 30 MB bodies in ${took.toFixed(1)} s: answers ${answers.join(', ')}; /healthz p95 ${p95.toFixed(0)} ms, slowest ${times.at(-1)!.toFixed(0)} ms over ${times.length} probes; serve peak RSS ${rss.toFixed(0)} MB`);
    expect(answers).to.deep.equal([200, 200, 200]);
    expect(times.length).to.be.greaterThan(5);
    expect(p95).to.be.lessThan(100);
    expect(times.at(-1)).to.be.lessThan(1000);
    expect(rss).to.be.lessThan(600);
    // Stored whole: the body of 2.4 million keys comes back from the API.
    const action = (await (await fetch(`${url}/api/v1/events/big/big-2`)).json()) as { stages: { requestObject: Record<string, number> }[] };
    expect(Object.keys(action.stages[0]!.requestObject)).to.have.length(2_400_000);
  });

  it('redacts the Secrets of a list response too large to decode, and keeps the rest of it', async () => {
    const secret = (i: number) => `c2VjcmV0LXZhbHVl${i.toString(36)}`;
    const list = { kind: 'SecretList', apiVersion: 'v1', items: Array.from({ length: 50_000 }, (_, i) => ({ metadata: { name: `s${i}`, namespace: 'team' }, data: { password: secret(i) }, type: 'Opaque' })) };
    const event = makeEvent({ auditID: 'secrets', level: 'RequestResponse', verb: 'list', objectRef: { resource: 'secrets', apiVersion: 'v1' }, responseObject: list });
    const body = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event] });
    expect(body.length).to.be.greaterThan(4 * 1024 * 1024);
    const res = await fetch(`${url}/audit/webhook/big`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).to.equal(200);
    const action = (await (await fetch(`${url}/api/v1/events/big/secrets`)).json()) as { stages: { responseObject: typeof list }[] };
    const kept = action.stages[0]!.responseObject;
    expect(kept.items).to.have.length(50_000);
    expect(kept.items[7]!.metadata.name).to.equal('s7');
    expect(kept.items[7]!.data.password).to.match(/^kubetrail:redacted:[0-9a-f]{64}$/);
    // No secret value in any file of the store.
    for (const file of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, file));
      for (const i of [0, 7, 49_999]) expect(bytes.includes(secret(i)), `${file} holds a secret`).to.equal(false);
    }
  });
});
