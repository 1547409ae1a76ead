import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { DEFAULTS, loadConfig } from '../../shared/config.js';
import { hashToken } from '../../shared/access.js';
import { tempDir } from '../helpers.js';

describe('loadConfig', () => {
  const dir = tempDir();
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const error = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected an error');
  };

  it('has the documented defaults with no file and no environment', () => {
    const c = loadConfig({ file: file('empty.yaml', ''), env: {} });
    expect(c.listen).to.equal('127.0.0.1:8080');
    expect(c.database).to.deep.equal({ path: './data/kubetrail.db', synchronous: 'FULL' });
    expect(c.webhook.maxBodyBytes).to.equal(32 * 1024 * 1024);
    expect(c.cluster).to.equal(DEFAULTS.cluster);
    expect(Object.isFrozen(c.webhook)).to.equal(true);
  });

  it('reads the file, then the environment, then flags, each winning over the one before', () => {
    const f = file('k.yaml', 'listen: 0.0.0.0:9000\ndatabase:\n  path: /var/lib/kt.db\nwebhook:\n  maxBodyBytes: 8MiB\n');
    const fromFile = loadConfig({ file: f, env: {} });
    expect([fromFile.listen, fromFile.database.path, fromFile.webhook.maxBodyBytes]).to.deep.equal(['0.0.0.0:9000', '/var/lib/kt.db', 8 * 1024 * 1024]);
    const fromEnv = loadConfig({ env: { KUBETRAIL_CONFIG: f, KUBETRAIL_DB: 'env.db', KUBETRAIL_LISTEN: '127.0.0.1:1' } });
    expect([fromEnv.listen, fromEnv.database.path]).to.deep.equal(['127.0.0.1:1', 'env.db']);
    const fromFlags = loadConfig({ file: f, env: { KUBETRAIL_DB: 'env.db' }, overrides: { databasePath: 'flag.db', listen: '[::1]:2' } });
    expect([fromFlags.listen, fromFlags.database.path]).to.deep.equal(['[::1]:2', 'flag.db']);
  });

  it('takes a PostgreSQL store from --db, KUBETRAIL_DATABASE_URL or storage.url, and a SQLite path from --db over them', () => {
    const url = 'postgres://kt@db.example:5432/audit';
    expect(loadConfig({ file: file('pg.yaml', `storage:\n  url: ${url}\n`), env: {} }).storage.url).to.equal(url);
    expect(loadConfig({ file: file('e.yaml', ''), env: { KUBETRAIL_DATABASE_URL: url } }).storage.url).to.equal(url);
    const flag = loadConfig({ file: file('e2.yaml', ''), env: {}, overrides: { databasePath: url } });
    expect([flag.storage.url, flag.database.path]).to.deep.equal([url, './data/kubetrail.db']);
    const sqlite = loadConfig({ file: file('pg2.yaml', `storage:\n  url: ${url}\n`), env: {}, overrides: { databasePath: 'flag.db' } });
    expect([sqlite.storage.url, sqlite.database.path]).to.deep.equal([undefined, 'flag.db']);
    expect(() => loadConfig({ file: file('pg3.yaml', 'storage:\n  url: mysql://x/y\n'), env: {} })).to.throw(/config storage.url .*expected a PostgreSQL URL/);
    // KUBETRAIL_DB takes what --db takes; a URL in database.path would have made a SQLite file named after it.
    const viaEnv = loadConfig({ file: file('e2.yaml', ''), env: { KUBETRAIL_DB: url } });
    expect([viaEnv.storage.url, viaEnv.database.path]).to.deep.equal([url, './data/kubetrail.db']);
    expect(loadConfig({ file: file('e3.yaml', ''), env: { KUBETRAIL_DB: 'x.db' } }).database.path).to.equal('x.db');
    const refused = (() => {
      try {
        loadConfig({ file: file('pg4.yaml', 'database:\n  path: postgres://kt:secret@db/audit\n'), env: {} });
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(refused).to.match(/config database.path .*put the URL in storage.url/).and.not.contain('secret');
  });

  const bad: [string, string, string][] = [
    ['a listen address without a port', 'listen: localhost', "config listen ({f}): expected host:port, got 'localhost'"],
    ['a size without a number', 'webhook:\n  maxBodyBytes: lots', "config webhook.maxBodyBytes ({f}): expected a size like 32MiB, got 'lots'"],
    ['a misspelt key', 'webhok: {}', 'config (top level) ({f}): unknown key webhok'],
    ['a nested misspelt key', 'database:\n  pth: x', 'config database ({f}): unknown key pth'],
    ['a wrong synchronous mode', 'database:\n  synchronous: OFF', 'config database.synchronous ({f}):'],
    ['a short webhook token', 'webhook:\n  tokens: [abc]', 'config webhook.tokens.0 ({f}): tokens must be at least 16 characters'],
    ['YAML that is not a mapping', '- a\n- b', 'config file {f}: expected a mapping of keys'],
    ['broken YAML', 'a: [b', 'config file {f}: not valid YAML'],
    ['a key that is a list (found by fuzzing: the YAML library turned it into text and warned)', 'log:\n  level: info\n? [a, b]\n: 1', 'config file {f}: line 3: a key that is a list or mapping; keys are names'],
    ['two YAML documents', 'log: {}\n---\nlog: {}', 'config file {f}: not valid YAML'],
    ['a denied address that is not one', 'detections:\n  denyAddresses: [10.0.0.0/8, 10.0.0.300]', "config detections.denyAddresses.1 ({f}): expected an IP address or CIDR block such as 203.0.113.0/24, got '10.0.0.300'"],
    ['a capability in the wrong form', 'detections:\n  dangerousCapabilities: [cap_sys_admin]', 'config detections.dangerousCapabilities.0 ({f}): expected a capability name such as SYS_ADMIN'],
    ['a pause threshold the consumer alone would reach', 'kafka:\n  pauseAtBacklog: 2', 'config kafka.pauseAtBacklog ({f}): Too small: expected number to be >=3'],
  ];
  for (const [what, text, message] of bad) {
    it(`names the key and the problem for ${what}`, () => {
      const f = file(`${what.replace(/\W+/g, '-')}.yaml`, text);
      expect(error(() => loadConfig({ file: f, env: {} }))).to.contain(message.replace('{f}', f));
    });
  }

  it('reads Kafka settings from the environment, and refuses relay mode without brokers', () => {
    const c = loadConfig({ file: file('k2.yaml', ''), env: { KAFKA_BROKERS: 'a:9092, b:9092', KUBETRAIL_KAFKA_TOPIC: 't1,t2', KUBETRAIL_KAFKA_GROUP: 'g' } });
    expect(c.kafka).to.deep.include({ brokers: ['a:9092', 'b:9092'], topics: ['t1', 't2'], group: 'g', deadLetterTopic: 'k8s-audit.dlq' });
    expect(loadConfig({ file: file('k3.yaml', ''), env: { KUBETRAIL_KAFKA_BROKERS: 'x:1', KAFKA_BROKERS: 'y:2' } }).kafka.brokers).to.deep.equal(['x:1']);
    expect(error(() => loadConfig({ file: file('k4.yaml', 'relay:\n  toKafka: true\n'), env: {} }))).to.contain('relay.toKafka');
    expect(error(() => loadConfig({ file: file('k5.yaml', 'kafka:\n  brokers: [nohost]\n'), env: {} }))).to.contain("config kafka.brokers.0");
  });

  it('takes the API and webhook tokens from the environment or a file, keeping only the API token\'s hash', () => {
    const token = 'api-token-0123456789abcdef';
    const c = loadConfig({ file: file('t1.yaml', 'api:\n  tokens: [{name: soc, role: viewer, sha256: ' + 'a'.repeat(64) + '}]\n'), env: { KUBETRAIL_API_TOKEN: token, KUBETRAIL_WEBHOOK_TOKEN: 'webhook-token-0123456789' } });
    expect(c.api.tokens.map((t) => [t.name, t.role])).to.deep.equal([['soc', 'viewer'], ['env', 'admin']]);
    expect(c.api.tokens[1]!.sha256).to.equal(hashToken(token));
    expect(JSON.stringify(c.api)).to.not.contain(token);
    expect(c.webhook.tokens).to.deep.equal(['webhook-token-0123456789']);
    writeFileSync(join(dir, 'secret'), `${token}\n`);
    expect(loadConfig({ file: file('t2.yaml', ''), env: { KUBETRAIL_API_TOKEN_FILE: join(dir, 'secret'), KUBETRAIL_API_TOKEN_ROLE: 'viewer' } }).api.tokens).to.deep.equal([{ name: 'env', role: 'viewer', sha256: hashToken(token) }]);
    expect(error(() => loadConfig({ file: file('t3.yaml', ''), env: { KUBETRAIL_API_TOKEN: 'short' } }))).to.contain('KUBETRAIL_API_TOKEN: at least 16 characters');
    expect(error(() => loadConfig({ file: file('t4.yaml', ''), env: { KUBETRAIL_API_TOKEN: token, KUBETRAIL_API_TOKEN_ROLE: 'root' } }))).to.contain("KUBETRAIL_API_TOKEN_ROLE: expected one of viewer, analyst, admin, got 'root'");
    expect(error(() => loadConfig({ file: file('t5.yaml', ''), env: { KUBETRAIL_WEBHOOK_TOKEN_FILE: join(dir, 'missing') } }))).to.match(/KUBETRAIL_WEBHOOK_TOKEN_FILE: cannot read .*missing/);
    expect(error(() => loadConfig({ file: file('t6.yaml', ''), env: { KUBETRAIL_WEBHOOK_TOKEN: 'short' } }))).to.contain('KUBETRAIL_WEBHOOK_TOKEN: at least 16 characters');
  });

  it('names a config file it cannot read', () => {
    expect(error(() => loadConfig({ file: join(dir, 'nope.yaml'), env: {} }))).to.match(/^config file .*nope\.yaml: cannot read it/);
  });

  it('accepts the example configuration shipped in deploy/', () => {
    const c = loadConfig({ file: 'deploy/kubetrail.yaml', env: {} });
    expect(c.listen).to.equal('0.0.0.0:8443');
    expect(c.tls?.certFile).to.equal('/etc/kubetrail/tls.crt');
  });
});

describe('deploy/ files for the kube-apiserver', () => {
  it('has the recommended audit Policy: secrets at Metadata first, Metadata for everything last', () => {
    const policy = parseYaml(readFileSync('deploy/audit-policy.yaml', 'utf8'));
    expect([policy.apiVersion, policy.kind]).to.deep.equal(['audit.k8s.io/v1', 'Policy']);
    expect(policy.omitStages).to.deep.equal(['RequestReceived']);
    expect(policy.rules[0].level).to.equal('Metadata');
    expect(policy.rules[0].resources[0].resources).to.include('secrets');
    expect(policy.rules.at(-1)).to.deep.equal({ level: 'Metadata' });
  });

  it('has a webhook kubeconfig whose server is a kubetrail webhook path', () => {
    const kc = parseYaml(readFileSync('deploy/audit-webhook-kubeconfig.yaml', 'utf8'));
    expect(kc.clusters[0].cluster.server).to.match(/^https:\/\/[^/]+\/audit\/webhook\/[a-z0-9-]+$/);
    expect(kc['current-context']).to.equal('kubetrail');
  });
});
