import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import BetterSqlite3 from 'better-sqlite3';
import YAML from 'yaml';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { CLI, cliEnv, makeEvent, onEachBackend, tempDir } from '../../helpers.js';

const ALICE_ARN = 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com';
const BOB_ARN = 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/bob-laptop';
const DANA_CERT = 'X509SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const OTHER_CERT = 'X509SHA256=0000000000000000000000000000000000000000000000000000000000000001';

/**
 * `kubetrail identities` and `kubetrail events --actor/--person/--credential` on a store
 * ingested through the CLI: who is behind each shared account.
 */
onEachBackend('kubetrail identities', (store) => {
  const dir = tempDir();
  const config = join(dir, 'kubetrail.yaml');
  /** What reads SQLite's identities table, which PostgreSQL has no need of (it attributes as it reads). */
  const sqliteOnly = (ctx: Mocha.Context) => {
    if (store().startsWith('postgres')) ctx.skip();
    return store();
  };
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--db', store(), '--config', config], { encoding: 'utf8', env: cliEnv() });
    if (r.status !== 0) throw new Error(`kubetrail ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const admin = (extra: Record<string, string[]>, groups = ['system:masters', 'system:authenticated']): Partial<AuditEvent> => ({
    user: { username: 'kubernetes-admin', groups, extra },
  });
  const events: AuditEvent[] = [
    makeEvent(admin({ arn: [ALICE_ARN], sessionName: ['alice@example.com'] })),
    makeEvent(admin({ arn: [ALICE_ARN], sessionName: ['alice@example.com'] })),
    makeEvent(admin({ arn: [BOB_ARN], sessionName: ['bob-laptop'] })),
    makeEvent(admin({ 'authentication.kubernetes.io/credential-id': [DANA_CERT] })),
    makeEvent(admin({ 'authentication.kubernetes.io/credential-id': [OTHER_CERT] })),
    makeEvent({
      user: {
        username: 'system:serviceaccount:ci:deployer',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/credential-id': ['JTI=j-1'], 'authentication.kubernetes.io/pod-name': ['runner-1'] },
      },
    }),
    makeEvent({
      user: { username: 'alice', groups: ['system:authenticated'] },
      impersonatedUser: { username: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:authenticated'] },
    }),
    // The TokenRequest that minted the token deployer used (events[5]).
    makeEvent({
      user: { username: 'alice', groups: ['system:authenticated'] },
      verb: 'create',
      objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'ci', name: 'deployer', apiVersion: 'v1' },
      annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "ci" of ClusterRole "edit" to User "alice"', 'authentication.kubernetes.io/issued-credential-id': 'JTI=j-1' },
    }),
  ];

  before(() => {
    writeFileSync(
      config,
      YAML.stringify({
        identityMap: [
          { match: { credentialId: DANA_CERT }, person: 'dana@example.com', team: 'platform' },
          { match: { arn: 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/bob-*' }, person: 'bob@example.com' },
          { match: { username: 'alice' }, person: 'alice@example.com' },
        ],
      }),
    );
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    run(['ingest', file]);
  });

  it('names the person behind each use of a shared account, and each credential', () => {
    const rows = JSON.parse(run(['identities', '--output', 'json'])) as { identity: string; kind: string; person: string | null; usernames: string[]; credentialKinds: string[]; credentialIds: string[]; actions: number }[];
    const byKey = (identity: string, person: string | null) => rows.find((r) => r.identity === identity && r.person === person);
    expect(byKey(ALICE_ARN, 'alice@example.com')).to.deep.include({ kind: 'human', usernames: ['kubernetes-admin'], actions: 2 });
    expect(byKey(BOB_ARN, 'bob@example.com')).to.deep.include({ usernames: ['kubernetes-admin'], actions: 1 });
    expect(byKey('kubernetes-admin', 'dana@example.com')).to.deep.include({ credentialKinds: ['client-certificate'], credentialIds: [DANA_CERT], actions: 1 });
    // A certificate no rule names: the shared account, with no person behind it.
    expect(byKey('kubernetes-admin', null)).to.deep.include({ credentialIds: [OTHER_CERT], actions: 1 });
    // The token's use is traced back to whoever requested it.
    expect(byKey('system:serviceaccount:ci:deployer', null)).to.deep.include({ kind: 'serviceaccount', credentialKinds: ['bound-token'], credentialIds: ['JTI=j-1'], tokensMintedBy: ['alice'] });
    expect(byKey(ALICE_ARN, 'alice@example.com')).to.deep.include({ tokensMintedBy: [] });
    expect(rows).to.have.length(6);
    // Each identity's findings: alerts about it, split by the person behind a shared account.
    const findings = (identity: string, person: string | null) => (byKey(identity, person) as unknown as { findings: Record<string, number> }).findings;
    expect(findings(ALICE_ARN, 'alice@example.com')).to.deep.equal({ 'system-masters-use': 2, 'unattributed-break-glass': 2 });
    expect(findings('kubernetes-admin', 'dana@example.com')).to.deep.include({ 'system-masters-use': 1, 'non-revocable-credential': 1 });
    expect(findings('kubernetes-admin', null)).to.deep.include({ 'system-masters-use': 1 });
    // Impersonation is the finding of whoever impersonated.
    expect(findings('alice', 'alice@example.com')).to.deep.equal({ impersonation: 1, 'token-request': 1 });
    expect(findings('system:serviceaccount:ci:deployer', null)).to.deep.equal({});
  });

  it('finds actions by actor identity, person, credential and effective user', () => {
    const ids = (args: string[]) => (JSON.parse(run(['events', ...args, '--output', 'json'])) as { auditID: string }[]).map((r) => r.auditID).sort();
    expect(ids(['--actor', ALICE_ARN])).to.deep.equal([events[0]!.auditID, events[1]!.auditID].sort());
    expect(ids(['--actor', 'kubernetes-admin'])).to.have.length(5);
    expect(ids(['--person', 'dana@example.com'])).to.deep.equal([events[3]!.auditID]);
    expect(ids(['--person', 'alice@example.com'])).to.deep.equal([events[0]!.auditID, events[1]!.auditID, events[6]!.auditID, events[7]!.auditID].sort());
    expect(ids(['--credential', DANA_CERT])).to.deep.equal([events[3]!.auditID]);
    expect(ids(['--effective-user', 'system:serviceaccount:ci:deployer'])).to.deep.equal([events[5]!.auditID, events[6]!.auditID].sort());
    const [row] = JSON.parse(run(['events', '--credential', DANA_CERT, '--output', 'json'])) as Record<string, unknown>[];
    expect(row).to.deep.include({ actorKind: 'human', person: 'dana@example.com', credential: `client-certificate ${DANA_CERT}`, effectiveUser: 'kubernetes-admin' });
  });

  it('re-attributes stored identities when the identity map changes', function () {
    const db = sqliteOnly(this);
    const before = JSON.parse(run(['events', '--credential', OTHER_CERT, '--output', 'json'])) as { person: string | null }[];
    expect(before[0]!.person).to.equal(null);
    writeFileSync(config, YAML.stringify({ identityMap: [{ match: { credentialId: OTHER_CERT }, person: 'erin@example.com' }] }));
    // Any writer opening the store applies the new map: here, an ingest of nothing.
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    run(['ingest', empty]);
    const after = JSON.parse(run(['events', '--credential', OTHER_CERT, '--output', 'json'])) as { person: string | null }[];
    expect(after[0]!.person).to.equal('erin@example.com');
    const conn = new BetterSqlite3(db, { readonly: true });
    // Rules no longer in the map no longer attribute.
    expect(conn.prepare("SELECT count(*) AS n FROM identities WHERE person = 'dana@example.com'").get()).to.deep.equal({ n: 0 });
    conn.close();
  });

  it('derives the identities of principals stored before identities were kept', function () {
    const db = sqliteOnly(this);
    const conn = new BetterSqlite3(db);
    conn.exec('DELETE FROM identities');
    conn.close();
    const empty = join(dir, 'empty.jsonl');
    run(['ingest', empty]);
    const check = new BetterSqlite3(db, { readonly: true });
    const counts = check.prepare('SELECT (SELECT count(*) FROM principals) AS p, (SELECT count(*) FROM identities) AS i').get() as { p: number; i: number };
    check.close();
    expect(counts.i).to.equal(counts.p).and.to.be.greaterThan(0);
    expect(JSON.parse(run(['identities', '--output', 'json']))).to.have.length(6);
  });
});
