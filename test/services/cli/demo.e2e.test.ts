import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { UsageReport } from '../../../shared/rbac/usageReport.js';
import { CLI, cliEnv, runCli, tempDir, waitFor } from '../../helpers.js';

describe('kubetrail demo: a day of a cluster with an incident, stored and served', function () {
  this.timeout(180_000);
  const dir = tempDir();
  const db = join(dir, 'demo', 'kubetrail.db');
  const config = join(dir, 'demo', 'kubetrail-demo.yaml');
  const cli = (...args: string[]) => runCli([...args, '--config', config], cliEnv());

  before(async () => {
    const r = await runCli(['demo', '--db', db, '--hours', '6', '--rate', '1', '--no-serve'], cliEnv());
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('Three questions to try').and.contain(`kubetrail serve --config ${config}`);
    expect(existsSync(join(dir, 'demo', 'demo-audit.log')), 'the log is removed once stored').to.equal(false);
  });

  it('raises the incident\'s alerts: break-glass, a person\'s privileged pod through two controllers, Secret harvesting, scanning, a default account, an exec to the metadata service', async () => {
    const alerts = JSON.parse((await cli('alerts', '--output', 'json')).stdout) as { rule: string; person: string | null; message: string }[];
    expect(alerts.map((a) => a.rule)).to.include.members([
      'unattributed-break-glass', 'privileged-workload', 'rbac-escalation', 'secret-read-burst', 'secret-list-broad', 'secret-read-generic-client',
      'anonymous-scanning', 'default-serviceaccount-use', 'exec-suspicious-command', 'rbac-change-then-use',
    ]);
    // The pod the replicaset-controller made is dana's doing.
    const privileged = alerts.filter((a) => a.rule === 'privileged-workload');
    expect(privileged).to.have.length(3);
    expect(privileged.every((a) => a.person === 'dana@example.com')).to.equal(true);
  });

  it('reports erin\'s cluster-admin binding as unused and removable, against the loaded snapshot', async () => {
    const r = await cli('rbac', 'report', '--subject', 'erin@example.com', '--output', 'json');
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as UsageReport;
    const erin = report.subjects.find((s) => s.name === 'erin@example.com')!;
    expect(erin.active).to.equal(true);
    expect(erin.bindings.find((b) => b.binding === 'ClusterRoleBinding erin-admin')).to.deep.include({ used: false, removable: true });
    // Her report is hers: the generated controllers' drift (bindings not in the demo's snapshot) is not in it.
    expect(report.drift).to.deep.equal([]);
  });

  it('refuses a store that exists rather than mixing into it', async () => {
    const r = await runCli(['demo', '--db', db, '--no-serve'], cliEnv());
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain('exists; the demo writes a store of its own');
  });

  it('serves the console on the demo and says where', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--db', join(dir, 'served', 'kubetrail.db'), '--hours', '1', '--rate', '1', '--listen', '127.0.0.1:0'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await waitFor(() => /The console: (http:\/\/\S+)\//.test(out) || child.exitCode !== null, 'the console URL', 120_000);
      const url = /The console: (http:\/\/\S+)\//.exec(out)![1]!;
      expect((await fetch(`${url}/readyz`)).status).to.equal(200);
      const page = await fetch(`${url}/`);
      expect(page.status).to.equal(200);
      expect(await page.text()).to.contain('kubetrail');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
