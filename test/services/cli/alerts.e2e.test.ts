import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { CLI, cliEnv, makeEvent, onEachBackend, tempDir } from '../../helpers.js';

const AUTH = 'system:authenticated';
const at = (minute: number, second = 0) => `2026-07-23T14:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}.000000Z`;
const timed = (minute: number, e: Partial<AuditEvent>) => makeEvent({ requestReceivedTimestamp: at(minute), stageTimestamp: at(minute, 1), ...e });

interface Alert {
  id: number;
  rule: string;
  severity: string;
  actor: string;
  person: string | null;
  count: number;
  auditIDs: string[];
  message: string;
  pci: string[];
}

/**
 * Alerts raised by `kubetrail ingest` (the same path as the webhook and Kafka), throttled into
 * one alert per rule and identity, break-glass checkouts at the edges of their windows, and
 * `kubetrail alerts` with its filters and --fail-on-severity.
 */
onEachBackend('kubetrail alerts and break-glass checkouts', (db) => {
  const dir = tempDir();
  const config = join(dir, 'kubetrail.yaml');
  writeFileSync(config, YAML.stringify({ alerts: { throttleSeconds: 600 }, detections: { rules: { 'non-rbac-allow': { enabled: false } } } }));
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--db', db(), '--config', config], { encoding: 'utf8', env: cliEnv() });
  const run = (args: string[]) => {
    const r = cli(args);
    if (r.status !== 0) throw new Error(`kubetrail ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const ingest = (name: string, events: AuditEvent[]) => {
    const file = join(dir, name);
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    return run(['ingest', file, '--output', 'json']);
  };
  const alerts = (args: string[] = []) => JSON.parse(run(['alerts', '--output', 'json', ...args])) as Alert[];

  const masters = { user: { username: 'minikube-user', groups: ['system:masters', AUTH] } };
  const exec = { verb: 'create', objectRef: { resource: 'pods', subresource: 'exec', namespace: 'a', name: 'web', apiVersion: 'v1' } };
  const flood = [timed(0, masters), timed(1, masters), timed(2, masters)];
  const late = timed(30, masters);
  const execStarted = timed(3, { ...exec, stage: 'ResponseStarted', responseStatus: { metadata: {}, code: 101 } });
  const execDone = makeEvent({ ...execStarted, stage: 'ResponseComplete', auditID: execStarted.auditID });

  before(() => {
    ingest('first.jsonl', [...flood, late, execStarted, execDone]);
  });

  it('throttles a flood into one alert with a count and every auditID, and opens a new one after the window', () => {
    const m = alerts(['--rule', 'system-masters-use']);
    expect(m).to.have.length(2);
    const [newer, older] = m;
    expect(older).to.deep.include({ severity: 'high', actor: 'minikube-user', count: 3 });
    expect(older!.auditIDs).to.have.members(flood.map((e) => e.auditID));
    expect(older!.pci).to.include('10.2.1.2');
    expect(newer).to.deep.include({ count: 1, auditIDs: [late.auditID] });
  });

  it('counts a request once, whichever of its stages arrive, and not again when it is sent again', () => {
    const [e] = alerts(['--rule', 'pod-exec-attach-portforward']);
    expect(e).to.deep.include({ count: 1, auditIDs: [execStarted.auditID] });
    ingest('again.jsonl', [...flood, execStarted, execDone]);
    expect(alerts(['--rule', 'pod-exec-attach-portforward'])[0]!.count).to.equal(1);
    expect(alerts(['--rule', 'system-masters-use']).map((a) => a.count)).to.deep.equal([1, 3]);
  });

  it('attributes break-glass use inside a checkout to the person, and flags use outside it, at the window edges', () => {
    const out = JSON.parse(
      run(['breakglass', 'checkout', '--account', 'kubernetes-admin', '--person', 'pat@example.com', '--approved-by', 'lee@example.com', '--reason', 'etcd restore', '--ticket', 'INC-42', '--from', at(40), '--until', at(50), '--output', 'json']),
    ) as { id: number }[];
    const id = out[0]!.id;
    const admin = { user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', AUTH] } };
    const before = makeEvent({ ...admin, requestReceivedTimestamp: '2026-07-23T14:39:59.999999Z', stageTimestamp: at(40) });
    const first = timed(40, admin);
    const lastInside = makeEvent({ ...admin, requestReceivedTimestamp: '2026-07-23T14:49:59.999999Z', stageTimestamp: at(50) });
    const after = timed(50, admin);
    ingest('breakglass.jsonl', [before, first, lastInside, after]);
    const attributed = alerts(['--rule', 'attributed-break-glass']);
    expect(attributed).to.have.length(1);
    expect(attributed[0]).to.deep.include({ person: 'pat@example.com', count: 2, severity: 'medium' });
    expect(attributed[0]!.auditIDs).to.have.members([first.auditID, lastInside.auditID]);
    expect(attributed[0]!.message).to.contain(`checkout #${id}`).and.contain('INC-42').and.contain('lee@example.com');
    const unattributed = alerts(['--rule', 'unattributed-break-glass']).filter((a) => a.actor === 'kubernetes-admin');
    expect(unattributed.flatMap((a) => a.auditIDs)).to.have.members([before.auditID, after.auditID]);
    expect(unattributed.every((a) => a.severity === 'critical' && a.person === null)).to.equal(true);
    // Who did what: the account's actions in the window are the person's.
    const rows = JSON.parse(run(['events', '--person', 'pat@example.com', '--output', 'json'])) as { auditID: string; person: string; checkout: number; user: string }[];
    expect(rows.map((r) => r.auditID)).to.have.members([first.auditID, lastInside.auditID]);
    expect(rows.every((r) => r.person === 'pat@example.com' && r.checkout === id && r.user === 'kubernetes-admin')).to.equal(true);
    const outside = JSON.parse(run(['events', '--actor', 'kubernetes-admin', '--output', 'json'])) as { auditID: string; person: string | null; checkout: number | null }[];
    expect(outside.find((r) => r.auditID === after.auditID)).to.deep.include({ person: null, checkout: null });
  });

  it('refuses a checkout approved by its own user, an overlapping one, and closes one', () => {
    const self = cli(['breakglass', 'checkout', '--account', 'kube:admin', '--person', 'a', '--approved-by', 'a', '--reason', 'r', '--ticket', 't', '--for', '1h']);
    expect(self.status).to.equal(2);
    expect(self.stderr).to.contain('--approved-by');
    const overlap = cli(['breakglass', 'checkout', '--account', 'kubernetes-admin', '--person', 'b', '--approved-by', 'c', '--reason', 'r', '--ticket', 't', '--from', at(45), '--for', '1h']);
    expect(overlap.status).to.equal(2);
    expect(overlap.stderr).to.contain('already checked out to pat@example.com');
    const [open] = JSON.parse(run(['breakglass', 'checkout', '--account', 'kube:admin', '--person', 'b', '--approved-by', 'c', '--reason', 'r', '--ticket', 't', '--for', '1h', '--output', 'json'])) as { id: number }[];
    const [closed] = JSON.parse(run(['breakglass', 'close', String(open!.id), '--output', 'json'])) as { closed: string | null }[];
    expect(closed!.closed).to.be.a('string');
    expect((JSON.parse(run(['breakglass', 'list', '--output', 'json'])) as unknown[]).length).to.equal(2);
  });

  it('names the person whose change a controller carried out when it creates a privileged pod', () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: { hostPID: true, containers: [{ name: 'c', image: 'nginx' }] } };
    const deployment = timed(55, {
      user: { username: 'alice', groups: [AUTH] },
      verb: 'create',
      level: 'Request',
      objectRef: { resource: 'deployments', namespace: 'shop', name: 'web', apiGroup: 'apps', apiVersion: 'v1' },
      requestObject: { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'web', namespace: 'shop' }, spec: { template } },
    });
    const controller = (name: string) => ({ username: `system:serviceaccount:kube-system:${name}`, groups: ['system:serviceaccounts', AUTH] });
    const replicaSet = timed(56, {
      user: controller('deployment-controller'),
      verb: 'create',
      level: 'Request',
      objectRef: { resource: 'replicasets', namespace: 'shop', name: 'web-7d9f', apiGroup: 'apps', apiVersion: 'v1' },
      requestObject: { kind: 'ReplicaSet', metadata: { name: 'web-7d9f', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true }] }, spec: { template } },
    });
    const pod = timed(57, {
      user: controller('replicaset-controller'),
      verb: 'create',
      level: 'Request',
      objectRef: { resource: 'pods', namespace: 'shop', apiVersion: 'v1' },
      requestObject: { kind: 'Pod', metadata: { generateName: 'web-7d9f-', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', controller: true }] }, spec: template.spec },
    });
    ingest('workload.jsonl', [deployment, replicaSet, pod]);
    const found = alerts(['--rule', 'privileged-workload']);
    const byPod = found.find((a) => a.auditIDs.includes(pod.auditID))!;
    expect(byPod.actor).to.equal('system:serviceaccount:kube-system:replicaset-controller');
    expect(byPod.message).to.contain(`caused by alice: create deployments/web (auditID ${deployment.auditID})`);
    const byAlice = found.find((a) => a.auditIDs.includes(deployment.auditID))!;
    expect(byAlice.actor).to.equal('alice');
    expect(byAlice.message).to.not.contain('caused by');
  });

  it('filters by severity and fails on a severity when asked', () => {
    expect(alerts(['--severity', 'critical']).every((a) => a.rule === 'unattributed-break-glass')).to.equal(true);
    expect(cli(['alerts', '--fail-on-severity', 'critical']).status).to.equal(1);
    expect(cli(['alerts', '--rule', 'pod-exec-attach-portforward', '--fail-on-severity', 'critical']).status).to.equal(0);
  });
});
