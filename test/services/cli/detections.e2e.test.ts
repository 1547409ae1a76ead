import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { apiTokenLines, cliEnv, makeEvent, onEachBackend, runCli, sharedPath, startServe, tempDir } from '../../helpers.js';
import { EcsSchema, OcsfSchema } from '../../siemSchemas.js';

const SECRET = 'hunter2-Very-Secret';
const SIGMA_RULE = `title: Events deleted (test rule)
id: 9e2c0b7a-0000-4000-8000-000000000001
status: test
logsource:
  product: kubernetes
  service: audit
detection:
  selection:
    verb|startswith: delete
    objectRef.resource: events
  filter_system:
    user.username|startswith: 'system:'
  condition: selection and not 1 of filter_*
level: high
tags:
  - attack.defense-evasion
  - attack.t1070
`;
const exec = (namespace: string, command: string[], at: string) =>
  makeEvent({
    verb: 'create',
    stage: 'ResponseStarted',
    objectRef: { resource: 'pods', subresource: 'exec', namespace, name: 'db-0', apiVersion: 'v1' },
    requestURI: `/api/v1/namespaces/${namespace}/pods/db-0/exec?${command.map((c) => `command=${encodeURIComponent(c)}`).join('&')}&container=db&stdin=true&tty=true`,
    responseStatus: { metadata: {}, code: 101 },
    requestReceivedTimestamp: at,
    stageTimestamp: at,
  });

onEachBackend('detections through the CLI: exec forensics, registries and denied addresses from the config', (db) => {
  const dir = tempDir();
  const config = join(dir, 'kubetrail.yaml');
  const cli = (...args: string[]) => runCli(args, cliEnv({ KUBETRAIL_DB: db(), KUBETRAIL_CONFIG: config }));
  const events = [
    exec('kube-system', ['sh', '-c', `PGPASSWORD=${SECRET} psql -h db`], '2026-03-01T10:00:00.000000Z'),
    exec('shop', ['sh', '-c', 'curl -s http://169.254.169.254/latest/meta-data/iam/'], '2026-03-01T10:01:00.000000Z'),
    makeEvent({
      verb: 'create', level: 'Request', objectRef: { resource: 'pods', namespace: 'shop', apiVersion: 'v1' },
      requestObject: { kind: 'Pod', metadata: { name: 'miner' }, spec: { containers: [{ name: 'c', image: 'evil.example.net/miner:1', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] } },
      requestReceivedTimestamp: '2026-03-01T10:02:00.000000Z', stageTimestamp: '2026-03-01T10:02:00.000000Z',
    }),
    makeEvent({ sourceIPs: ['198.51.100.77'], requestReceivedTimestamp: '2026-03-01T10:03:00.000000Z', stageTimestamp: '2026-03-01T10:03:00.000000Z' }),
    makeEvent({ verb: 'delete', objectRef: { resource: 'events', namespace: 'shop', name: 'web.1', apiVersion: 'v1' }, requestReceivedTimestamp: '2026-03-01T10:04:00.000000Z', stageTimestamp: '2026-03-01T10:04:00.000000Z' }),
  ];
  let ingestLog = '';

  before(async function () {
    if (!db()) this.skip();
    mkdirSync(join(dir, 'sigma'));
    writeFileSync(join(dir, 'sigma', 'events.yml'), SIGMA_RULE);
    writeFileSync(join(dir, 'sigma', 'keywords.yml'), SIGMA_RULE.replace(/detection:[\s\S]*?level:/, 'detection:\n  words: [evil]\n  condition: words\nlevel:').replace(/^id: .*$/m, 'id: 9e2c0b7a-0000-4000-8000-000000000002'));
    writeFileSync(config, `cluster: prod\ndetections:\n  allowedRegistries: [registry.acme.io]\n  denyAddresses: [198.51.100.0/24]\n  sigma: [${join(dir, 'sigma')}]\n`);
    writeFileSync(join(dir, 'audit.log'), events.map((e) => JSON.stringify(e)).join('\n'));
    const r = await cli('ingest', join(dir, 'audit.log'));
    expect(r.status, r.stderr).to.equal(0);
    ingestLog = r.stderr;
  });

  it('raises the new rules with the command line in the alert, and the tuned ones as configured', async () => {
    const r = await cli('alerts', '--output', 'json');
    const alerts = JSON.parse(r.stdout) as { rule: string; message: string }[];
    const rules = alerts.map((a) => a.rule);
    expect(rules).to.include.members(['exec-kube-system', 'exec-suspicious-command', 'untrusted-image-registry', 'privileged-workload', 'deny-address']);
    expect(alerts.find((a) => a.rule === 'exec-suspicious-command')!.message).to.contain("[download, cloud-metadata]: sh -c 'curl -s http://169.254.169.254/latest/meta-data/iam/'");
    expect(alerts.find((a) => a.rule === 'privileged-workload')!.message).to.contain('container c adds SYS_ADMIN');
    expect(alerts.find((a) => a.rule === 'deny-address')!.message).to.contain('from 198.51.100.77 (denied by 198.51.100.0/24)');
  });

  it('evaluates the Sigma rules of detections.sigma, and names a rule it leaves out and why', async () => {
    const alerts = JSON.parse((await cli('alerts', '--output', 'json')).stdout) as { rule: string; severity: string; message: string }[];
    const sigma = alerts.filter((a) => a.rule.startsWith('sigma:'));
    expect(sigma.map((a) => [a.rule, a.severity, a.message])).to.deep.equal([
      ['sigma:9e2c0b7a-0000-4000-8000-000000000001', 'high', 'Events deleted (test rule): alice delete events web.1 in shop [attack.defense-evasion, attack.t1070]'],
    ]);
    expect(ingestLog).to.contain('keywords.yml is not evaluated').and.contain('full-text search is not supported');
  });

  it('rules check: exit 0 when every rule runs, 1 naming what does not, 2 for a path it cannot read', async () => {
    const good = await runCli(['rules', 'check', join(dir, 'sigma', 'events.yml')], cliEnv());
    expect(good.status, good.stderr).to.equal(0);
    expect(good.stdout).to.contain('1 rule(s): 1 will run, 0 will not');
    const mixed = await runCli(['rules', 'check', join(dir, 'sigma'), '--output', 'json'], cliEnv());
    expect(mixed.status).to.equal(1);
    expect(JSON.parse(mixed.stdout)).to.deep.include({ rules: 2, ok: 1, unsupported: 1 });
    const missing = await runCli(['rules', 'check', join(dir, 'nowhere')], cliEnv());
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.contain('rules check: cannot read').and.contain('nowhere');
  });

  it('writes actions and alerts as OCSF and ECS: the CLI\'s --output and the API\'s format=, each valid against the schema', async function () {
    const specs = sharedPath(this, 'spec');
    const window = ['--since', '2026-03-01T00:00:00Z', '--until', '2026-03-02T00:00:00Z'];
    const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const ocsfActions = lines((await cli('events', ...window, '--output', 'ocsf')).stdout);
    const ecsActions = lines((await cli('events', ...window, '--output', 'ecs')).stdout);
    const ocsfAlerts = lines((await cli('alerts', '--output', 'ocsf')).stdout);
    const ecsAlerts = lines((await cli('alerts', '--output', 'ecs')).stdout);
    expect(ocsfActions).to.have.length(events.length);
    expect(ocsfActions.map((d) => d.api.request.uid).sort()).to.deep.equal(events.map((e) => e.auditID).sort());
    expect(ecsActions.map((d) => d.kubernetes.audit.auditID).sort()).to.deep.equal(events.map((e) => e.auditID).sort());
    expect(ocsfAlerts.map((d) => d.finding_info.analytic.uid)).to.include.members(['exec-suspicious-command', 'sigma:9e2c0b7a-0000-4000-8000-000000000001']);
    // The command line, secrets redacted, travels too.
    expect(JSON.stringify(ocsfActions)).to.contain('PGPASSWORD=kubetrail:redacted:').and.not.contain(SECRET);

    // The same documents from the API, for an analyst; other lists refuse the formats.
    writeFileSync(config, readFileSync(config, 'utf8') + ['api:', ...apiTokenLines({ analyst: 'analyst-token-0123456789' })].join('\n') + '\n');
    const server = await startServe([], cliEnv({ KUBETRAIL_DB: db(), KUBETRAIL_CONFIG: config }));
    try {
      const get = (path: string) => fetch(`${server.url}/api/v1${path}`, { headers: { authorization: 'Bearer analyst-token-0123456789' } });
      const fromApi = await get('/events?since=2026-03-01T00:00:00Z&until=2026-03-02T00:00:00Z&format=ocsf');
      expect(fromApi.status).to.equal(200);
      expect(fromApi.headers.get('content-type')).to.contain('application/x-ndjson');
      expect(lines(await fromApi.text())).to.deep.equal(ocsfActions);
      expect(lines(await (await get('/alerts?format=ecs')).text())).to.deep.equal(ecsAlerts);
      const refused = await get('/identities?format=ocsf');
      expect(refused.status).to.equal(400);
      expect(await refused.text()).to.contain('only actions and alerts have OCSF documents');
    } finally {
      server.child.kill();
    }
    if (!specs) return;
    const ocsf = new OcsfSchema(join(specs, 'ocsf-schema'));
    const ecs = new EcsSchema(join(specs, 'ecs', 'ecs_flat.yml'));
    for (const d of ocsfActions) expect(ocsf.validateEvent(d, 'api_activity')).to.deep.equal([]);
    for (const d of ocsfAlerts) expect(ocsf.validateEvent(d, 'detection_finding')).to.deep.equal([]);
    for (const d of [...ecsActions, ...ecsAlerts]) expect(ecs.validate(d)).to.deep.equal([]);
  });

  it('keeps a secret typed into an exec out of the alerts, the action rows and the store', async () => {
    const alerts = (await cli('alerts', '--output', 'json')).stdout;
    expect(alerts).to.contain('PGPASSWORD=kubetrail:redacted:').and.not.contain(SECRET);
    const rows = JSON.parse((await cli('events', '--since', '2026-03-01T00:00:00Z', '--until', '2026-03-02T00:00:00Z', '--output', 'json')).stdout) as { command: string | null; requestURI: string }[];
    const withCommand = rows.filter((row) => row.command);
    expect(withCommand).to.have.length(2);
    expect(withCommand.map((row) => row.command).join('\n')).to.match(/sh -c 'PGPASSWORD=kubetrail:redacted:[0-9a-f]{64} psql -h db'/);
    expect(JSON.stringify(rows)).to.not.contain(SECRET);
    if (!db().startsWith('postgres')) {
      for (const f of readdirSync(dirname(db()))) if (f.startsWith('store.db')) expect(readFileSync(join(dirname(db()), f)).includes(SECRET), f).to.equal(false);
    }
  });
});
