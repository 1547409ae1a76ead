import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { CLI, cliEnv, makeEvent, onEachBackend, tempDir } from '../../helpers.js';

const RBAC = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-pods, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects:
- {kind: Group, name: dev, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team-a}
rules:
- {apiGroups: [apps], resources: [deployments, deployments/scale], verbs: [get, update, patch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [ci-lock], verbs: [get, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-deploys, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: ci, namespace: tools}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: health}
rules:
- {nonResourceURLs: [/healthz, /readyz*], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-health}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: health}
subjects:
- {kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: skipped, namespace: team-a}
`;

/** `kubetrail rbac` end to end, on either store: load a snapshot, then ask can, who-can, permissions and diff. */
onEachBackend('kubetrail rbac', (db) => {
  const dir = tempDir();
  const file = join(dir, 'rbac.yaml');
  writeFileSync(file, RBAC);
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'rbac', ...args, '--db', db()], { encoding: 'utf8', env: cliEnv() });

  it('asks for a snapshot before one is loaded, naming the command that loads one (exit 2)', () => {
    const r = cli(['can', 'get', 'pods', '--as', 'alice']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/no RBAC snapshot of cluster 'default'.*kubetrail rbac load/);
  });

  it('loads files into a snapshot, counting what it skipped', () => {
    const r = cli(['load', file, '--output', 'json']);
    expect(r.status, r.stderr).to.equal(0);
    const info = JSON.parse(r.stdout) as { id: number; summary: Record<string, unknown> };
    expect(info.id).to.equal(1);
    expect(info.summary).to.deep.include({ clusterRoles: 2, roles: 1, clusterRoleBindings: 1, roleBindings: 2, skipped: { ConfigMap: 1 } });
    const list = JSON.parse(cli(['snapshots', '--output', 'json']).stdout) as { id: number; source: string }[];
    expect(list.map((s) => s.id)).to.deep.equal([1]);
    expect(list[0]!.source).to.equal(`files: ${file}`);
  });

  it('answers can like kubectl auth can-i: yes/no, exit 0/1, groups added as the apiserver would', () => {
    const can = (...args: string[]) => {
      const r = cli(['can', ...args]);
      return [r.status, r.stdout.trim().split('\n')[0]];
    };
    expect(can('get', 'pods', '-n', 'team-a', '--as', 'alice', '--as-group', 'dev')).to.deep.equal([0, 'yes']);
    expect(can('get', 'pods', '-n', 'team-b', '--as', 'alice', '--as-group', 'dev')).to.deep.equal([1, 'no']);
    expect(can('get', 'pods', '--subresource', 'log', '-n', 'team-a', '--as', 'alice', '--as-group', 'dev')).to.deep.equal([0, 'yes']);
    expect(can('create', 'pods', '--subresource', 'exec', '-n', 'team-a', '--as', 'alice', '--as-group', 'dev')).to.deep.equal([1, 'no']);
    expect(can('patch', 'deployments.apps', '--subresource', 'scale', '-n', 'team-a', '--as', 'system:serviceaccount:tools:ci')).to.deep.equal([0, 'yes']);
    expect(can('update', 'leases.coordination.k8s.io/ci-lock', '-n', 'team-a', '--as', 'system:serviceaccount:tools:ci')).to.deep.equal([0, 'yes']);
    expect(can('update', 'leases.coordination.k8s.io/other', '-n', 'team-a', '--as', 'system:serviceaccount:tools:ci')).to.deep.equal([1, 'no']);
    expect(can('get', '/readyz/etcd', '--as', 'anyone')).to.deep.equal([0, 'yes']);
    expect(can('get', '/readyz/etcd', '--as', 'system:anonymous')).to.deep.equal([1, 'no']);
    expect(can('delete', 'nodes/n1', '--as', 'root', '--as-group', 'system:masters')).to.deep.equal([0, 'yes']);
  });

  it('explains an allow with the binding, role and rule, and names the system:masters bypass', () => {
    const r = cli(['can', 'list', 'pods', '-n', 'team-a', '--as', 'alice', '--as-group', 'dev', '--explain']);
    expect(r.stdout).to.include('RBAC: allowed by RoleBinding "dev-pods/team-a" of ClusterRole "pod-reader" to Group "dev"');
    expect(r.stdout).to.include('rule 1 of ClusterRole pod-reader: get,list pods,pods/log (core)');
    const m = cli(['can', 'delete', 'nodes', '--as', 'root', '--as-group', 'system:masters', '--explain']);
    expect(m.stdout).to.match(/yes\n {2}system:masters: the privileged-group authorizer allows it before RBAC/);
  });

  it('evaluates files directly with -f, without the store', () => {
    const r = spawnSync(process.execPath, [CLI, 'rbac', 'can', 'get', 'pods', '-n', 'team-a', '--as', 'bob', '--as-group', 'dev', '-f', file, '--db', join(dir, 'empty.db')], { encoding: 'utf8', env: cliEnv() });
    expect([r.status, r.stdout.trim()]).to.deep.equal([0, 'yes']);
  });

  it('lists who can, with the binding path of each subject', () => {
    const r = cli(['who-can', 'get', 'pods', '--output', 'json']);
    const rows = JSON.parse(r.stdout) as { subject: string; scope: string; binding: string; role: string }[];
    expect(rows).to.deep.equal([
      { subject: 'Group system:masters', scope: 'cluster', binding: '(privileged-group authorizer: bypasses RBAC)', role: '', rule: '' },
      { subject: 'Group dev', scope: 'namespace team-a', binding: 'RoleBinding team-a/dev-pods', role: 'ClusterRole pod-reader', rule: 'get,list pods,pods/log (core)' },
    ]);
    const none = JSON.parse(cli(['who-can', 'get', 'pods', '-n', 'team-b', '--output', 'json']).stdout) as unknown[];
    expect(none).to.have.length(1);
  });

  it('shows the effective permissions of a service account and of a group', () => {
    const sa = JSON.parse(cli(['permissions', '--serviceaccount', 'tools:ci', '--output', 'json']).stdout) as { user: { groups: string[] }; grants: { scope: string; role: { name: string }; rules: unknown[] }[] };
    expect(sa.user.groups).to.deep.equal(['system:serviceaccounts', 'system:serviceaccounts:tools', 'system:authenticated']);
    expect(sa.grants.map((g) => [g.scope, g.role.name, g.rules.length])).to.deep.equal([
      ['', 'health', 1],
      ['team-a', 'deployer', 2],
    ]);
    const group = JSON.parse(cli(['permissions', '--group', 'dev', '--output', 'json']).stdout) as { grants: { role: { name: string } }[] };
    expect(group.grants.map((g) => g.role.name)).to.deep.equal(['pod-reader']);
    expect(cli(['permissions']).status).to.equal(2);
  });

  it('names bound accounts with their last request (rbac stale)', () => {
    const events = join(dir, 'ci.jsonl');
    const sa = 'system:serviceaccount:tools:ci';
    writeFileSync(events, JSON.stringify(makeEvent({ user: { username: sa, groups: ['system:serviceaccounts', 'system:authenticated'] }, requestReceivedTimestamp: '2026-07-23T14:47:51.123456Z' })) + '\n');
    const ingest = spawnSync(process.execPath, [CLI, 'ingest', events, '--db', db()], { encoding: 'utf8', env: cliEnv({ KUBETRAIL_REDACTION_KEY: 'ab'.repeat(32) }) });
    expect(ingest.status, ingest.stderr).to.equal(0);
    // A window long enough that no date the suite runs on makes it stale.
    const rows = JSON.parse(cli(['stale', '--days', '36500', '--output', 'json']).stdout) as { name: string; lastSeen: unknown; status: string }[];
    expect(rows.find((r) => r.name === sa)).to.deep.include({ lastSeen: '2026-07-23T14:47:51.123Z', status: 'active' });
  });

  it('diffs two snapshots', () => {
    const changed = join(dir, 'changed.yaml');
    writeFileSync(changed, RBAC.replace('verbs: [get, list]}', 'verbs: [get, list, watch]}').replace(/---\napiVersion: rbac.authorization.k8s.io\/v1\nkind: ClusterRoleBinding[^]*?---/, '---'));
    expect(cli(['load', changed]).status).to.equal(0);
    const rows = JSON.parse(cli(['diff', '1', '2', '--output', 'json']).stdout) as { change: string; kind: string; name: string; details: string }[];
    expect(rows).to.deep.equal([
      { change: 'changed', kind: 'ClusterRole', namespace: '', name: 'pod-reader', details: '- rule get,list pods,pods/log (core); + rule get,list,watch pods,pods/log (core)' },
      { change: 'removed', kind: 'ClusterRoleBinding', namespace: '', name: 'everyone-health', details: '' },
    ]);
  });
});

describe('kubetrail output into a pipe closed early', function () {
  this.timeout(60_000);
  const dir = tempDir();

  it('stops quietly, as `kubetrail … | head` expects', async () => {
    const file = join(dir, 'many.yaml');
    const docs = Array.from({ length: 3000 }, (_, i) => `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: role-${i}}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bind-${i}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role-${i}}
subjects: [{kind: Group, name: dev, apiGroup: rbac.authorization.k8s.io}]`);
    writeFileSync(file, docs.join('\n---\n'));
    const child = spawn(process.execPath, [CLI, 'rbac', 'permissions', '--group', 'dev', '-f', file, '--db', join(dir, 'x.db')], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
  });
});
