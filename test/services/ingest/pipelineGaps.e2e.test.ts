import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hashToken } from '../../../shared/access.js';
import { loadConfig } from '../../../shared/config.js';
import { DEFAULT_GAP_SETTINGS, GapWatch } from '../../../shared/detect/pipelineGaps.js';
import { createLogger } from '../../../shared/log.js';
import { serve, type RunningServer } from '../../../services/cli/serve.js';
import { cliEnv, makeEvent, runCli, tempDir, waitFor } from '../../helpers.js';

const W = 60_000;

describe('audit pipeline gaps (PCI DSS 10.7.2)', () => {
  describe('the watch', () => {
    const watch = () => new GapWatch({ ...DEFAULT_GAP_SETTINGS, windowMs: W });

    it('learns a stream first, then opens a gap when it is silent for a whole window, and closes it on the next events', () => {
      const w = watch();
      let t = 0;
      // Two windows of traffic are not enough to know the rate: silence then is no gap.
      for (; t < 2 * W; t += 1000) expect(w.observe('prod', 'webhook', 5, t, t)).to.deep.equal([]);
      expect(w.tick(t + W + 1)).to.deep.equal([]);
      const v = watch();
      for (t = 0; t < 4 * W; t += 1000) v.observe('prod', 'webhook', 5, t, t);
      const last = t - 1000;
      expect(v.tick(last + W - 1)).to.deep.equal([]);
      expect(v.tick(last + W)).to.deep.equal([{ type: 'open', cluster: 'prod', source: 'webhook', kind: 'silence', startedAt: last, detectedAt: last + W, expectedPerWindow: 300, seen: 0 }]);
      expect(v.tick(last + 3 * W)).to.deep.equal([]);
      expect(v.observe('prod', 'webhook', 5, last + 3 * W, last + 3 * W)).to.deep.equal([{ type: 'close', cluster: 'prod', source: 'webhook', endedAt: last + 3 * W, lateEvents: false }]);
    });

    it('opens a gap when the rate collapses under a tenth, and closes it when the rate comes back; streams are apart', () => {
      const w = watch();
      let t = 0;
      for (; t < 4 * W; t += 1000) w.observe('prod', 'kafka', 10, t, t);
      const out = [];
      for (; t < 5 * W; t += 10_000) out.push(...w.observe('prod', 'kafka', 1, t, t), ...w.observe('dev', 'kafka', 1, t, t));
      out.push(...w.tick(5 * W));
      expect(out).to.deep.equal([{ type: 'open', cluster: 'prod', source: 'kafka', kind: 'rate-collapse', startedAt: 4 * W, detectedAt: 5 * W, expectedPerWindow: 600, seen: 6 }]);
      for (; t < 6 * W; t += 1000) w.observe('prod', 'kafka', 10, t, t);
      expect(w.tick(6 * W)).to.deep.include({ type: 'close', cluster: 'prod', source: 'kafka', endedAt: 6 * W, lateEvents: false });
    });

    it('after a restart, knows the streams it had learned: their silence since is a gap at once, and an open gap stays one', () => {
      const before = watch();
      let t = 0;
      for (; t < 4 * W; t += 1000) before.observe('prod', 'webhook', 5, t, t);
      const last = t - 1000;
      for (; t < 8 * W; t += 1000) before.observe('dev', 'kafka', 5, t, t);
      before.tick(last + 2 * W);
      const states = before.states();
      expect(states.find((s) => s.cluster === 'prod')!.gap).to.deep.include({ kind: 'silence', startedAt: last });

      // Restarted at 9 W: no windows to learn again.
      const after = watch();
      after.restore(states, 9 * W);
      const opened = after.tick(9 * W);
      expect(opened).to.deep.equal([{ type: 'open', cluster: 'dev', source: 'kafka', kind: 'silence', startedAt: 8 * W - 1000, detectedAt: 9 * W, expectedPerWindow: 300, seen: 0 }]);
      expect(after.observe('prod', 'webhook', 5, 9 * W + 10, 9 * W + 10)).to.deep.equal([{ type: 'close', cluster: 'prod', source: 'webhook', endedAt: 9 * W + 10, lateEvents: false }]);
      // A stream nobody learned is learned from scratch, as before.
      expect(watch().tick(9 * W)).to.deep.equal([]);
    });

    it('marks a gap whose events arrive late as delayed, not lost', () => {
      const w = watch();
      let t = 0;
      for (; t < 4 * W; t += 1000) w.observe('prod', 'webhook', 5, t, t);
      w.tick(t + 2 * W);
      // The apiserver's buffered batch: requests from inside the gap.
      expect(w.observe('prod', 'webhook', 50, t + 2 * W + 10, t + W)).to.deep.equal([{ type: 'close', cluster: 'prod', source: 'webhook', endedAt: t + 2 * W + 10, lateEvents: true }]);
    });
  });

  describe('with a real kubetrail serve and a client that stops sending', function () {
    this.timeout(60_000);
    const dir = tempDir();
    const token = 'gap-analyst-token-000000001';
    let server: RunningServer;
    let sent = 0;
    const file = join(dir, 'kubetrail.yaml');
    const config = () => loadConfig({ file, env: {}, overrides: { databasePath: join(dir, 'kubetrail.db') } });
    before(async () => {
      // Windows of 2 s: learned after 3, a gap after 2 s of silence.
      writeFileSync(file, ['listen: 127.0.0.1:0', 'gap:', '  minutes: 0.0333', 'api:', '  tokens:', '    - name: on-call', '      role: analyst', `      sha256: ${hashToken(token)}`].join('\n'));
      server = await serve(config(), ['ingest', 'api'], createLogger('silent'));
    });
    after(() => server.stop());

    const send = async (at = new Date()) => {
      const ts = at.toISOString().replace('Z', '000Z');
      const items = Array.from({ length: 5 }, () => makeEvent({ requestReceivedTimestamp: ts, stageTimestamp: ts }));
      const res = await fetch(`${server.url}/audit/webhook/prod`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items }) });
      expect(res.status).to.equal(200);
      sent += 5;
    };
    const api = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${server.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      return { status: res.status, body: (await res.json()) as any };
    };

    it('opens a gap with a critical alert when the cluster goes quiet, closes it when late events arrive, and records cause and remediation', async () => {
      const started = Date.now();
      while (Date.now() - started < 9_000) {
        await send();
        await new Promise((r) => setTimeout(r, 250));
      }
      const quietFrom = new Date();
      await waitFor(async () => (await api('/gaps?open=true')).body.items.length === 1, 'an open gap', 10_000);
      const [gap] = (await api('/gaps?open=true')).body.items;
      expect(gap).to.include({ cluster: 'prod', source: 'webhook', kind: 'silence', endedAt: null, cause: null });
      expect(Date.parse(gap.startedAt)).to.be.closeTo(quietFrom.getTime(), 1500);
      const alerts = (await api('/alerts?rule=audit-pipeline-gap')).body.items;
      expect(alerts).to.have.length(1);
      expect(alerts[0]).to.include({ severity: 'critical', cluster: 'prod', status: 'open', id: gap.alertId });
      expect(alerts[0].pci).to.include('10.7.2');

      // The apiserver's buffered events: from inside the gap, arriving late.
      await send(new Date(quietFrom.getTime() + 500));
      await waitFor(async () => (await api('/gaps')).body.items[0].endedAt !== null, 'the gap closed', 5_000);
      const closed = (await api('/gaps')).body.items[0];
      expect(closed.lateEvents).to.equal(true);
      expect(closed.seconds).to.be.at.least(2);

      const bad = await api(`/gaps/${gap.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cause: 'apiserver restarted' }) });
      expect(bad.status).to.equal(400);
      expect(bad.body.error).to.contain('body.remediation');
      const ack = await api(`/gaps/${gap.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cause: 'apiserver restarted during an upgrade', remediation: 'webhook backend batch buffer raised; runbook RB-7' }) });
      expect(ack.status).to.equal(200);
      expect(ack.body).to.include({ ackedBy: 'on-call', cause: 'apiserver restarted during an upgrade' });
      expect((await api('/alerts?rule=audit-pipeline-gap')).body.items[0]).to.include({ status: 'acknowledged', ackedBy: 'on-call' });
      expect((await api(`/gaps/${gap.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cause: 'x', remediation: 'y' }) })).status).to.equal(409);
      expect(sent).to.be.greaterThan(100);
      // The CLI reads the same record.
      const listed = await runCli(['gaps', 'list', '--db', join(dir, 'kubetrail.db'), '--output', 'json'], cliEnv());
      expect(JSON.parse(listed.stdout)[0]).to.include({ id: gap.id, remediation: 'webhook backend batch buffer raised; runbook RB-7', lateEvents: true });
    });

    it('after a restart, knows the stream without learning it again: its own downtime is a gap, closed by the next events', async () => {
      const lastSent = Date.now();
      await send();
      await server.stop();
      await new Promise((r) => setTimeout(r, 1000));
      server = await serve(config(), ['ingest', 'api'], createLogger('silent'));
      await waitFor(async () => (await api('/gaps?open=true')).body.items.length === 1, 'a gap for the downtime', 10_000);
      const [down] = (await api('/gaps?open=true')).body.items;
      expect(down).to.include({ cluster: 'prod', source: 'webhook', kind: 'silence' });
      expect(Date.parse(down.startedAt)).to.be.closeTo(lastSent, 1500);
      await send();
      await waitFor(async () => (await api('/gaps?open=true')).body.items.length === 0, 'the downtime gap closed', 5_000);
      expect((await api('/gaps')).body.items).to.have.length(2);
    });
  });
});
