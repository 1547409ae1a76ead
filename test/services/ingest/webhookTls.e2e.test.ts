import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { expect } from 'chai';
import { hashToken } from '../../../shared/access.js';
import { loadConfig } from '../../../shared/config.js';
import { createLogger } from '../../../shared/log.js';
import { serve, type RunningServer } from '../../../services/cli/serve.js';
import { makeEvent, tempDir } from '../../helpers.js';

/** Runs openssl in `dir`; throws with its output when it fails. */
function openssl(dir: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A CA, and a certificate it signs for `cn` with the given extensions. */
function issue(dir: string, ca: string, name: string, cn: string, ext: string): void {
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
}

function newCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
}

describe('webhook over mutual TLS (real HTTPS, certificates from openssl)', function () {
  const dir = tempDir();
  let server: RunningServer;
  const file = (f: string) => readFileSync(join(dir, f));

  before(async () => {
    newCa(dir, 'ca');
    newCa(dir, 'rogue');
    issue(dir, 'ca', 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
    issue(dir, 'ca', 'apiserver', 'kube-apiserver', 'extendedKeyUsage=clientAuth\n');
    issue(dir, 'rogue', 'intruder', 'kube-apiserver', 'extendedKeyUsage=clientAuth\n');
    const config = join(dir, 'kubetrail.yaml');
    writeFileSync(config, [
      'listen: 127.0.0.1:0',
      'tls:', `  certFile: ${join(dir, 'server.crt')}`, `  keyFile: ${join(dir, 'server.key')}`, `  clientCaFile: ${join(dir, 'ca.crt')}`,
      'webhook:', '  requireClientCert: true',
      'api:', '  tokens:', '    - name: soc', '      role: viewer', `      sha256: ${hashToken('soc-token-0123456789')}`,
    ].join('\n'));
    server = await serve(loadConfig({ file: config, env: {}, overrides: { databasePath: join(dir, 'k.db') } }), ['ingest', 'api'], createLogger('silent'));
  });
  after(() => server.stop());

  function post(path: string, body: string, client: 'apiserver' | 'intruder' | null, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const url = new URL(server.url + path);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: body ? 'POST' : 'GET', ca: file('ca.crt'), ...(client ? { cert: file(`${client}.crt`), key: file(`${client}.key`) } : {}), headers: { 'content-type': 'application/json', ...headers } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body || undefined);
    });
  }

  it('stores what the apiserver sends with its client certificate, and refuses any other sender', async () => {
    const list = JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: [makeEvent()] });
    const ok = await post('/audit/webhook', list, 'apiserver');
    expect(ok.status, ok.body).to.equal(200);
    expect(JSON.parse(ok.body)).to.deep.equal({ accepted: 1, duplicates: 0, quarantined: 0 });
    const none = await post('/audit/webhook', list, null);
    expect(none.status).to.equal(401);
    expect(JSON.parse(none.body).error).to.contain('needs a client certificate signed by tls.clientCaFile');
    const rogue = await post('/audit/webhook', list, 'intruder');
    expect(rogue.status).to.equal(401);
  });

  it('leaves the query API to its tokens: no client certificate needed', async () => {
    const res = await post('/api/v1/events', '', null, { authorization: 'Bearer soc-token-0123456789' });
    expect(res.status, res.body).to.equal(200);
  });

  it('takes only the certificate names webhook.allowedClientNames lists, each for the clusters webhook.clientClusters gives it', async () => {
    issue(dir, 'ca', 'node', 'system:node:worker-1', 'extendedKeyUsage=clientAuth\n');
    issue(dir, 'ca', 'edge', 'edge-relay', 'extendedKeyUsage=clientAuth\nsubjectAltName=DNS:relay-1.audit.example\n');
    const config = join(dir, 'names.yaml');
    writeFileSync(config, [
      'listen: 127.0.0.1:0',
      'tls:', `  certFile: ${join(dir, 'server.crt')}`, `  keyFile: ${join(dir, 'server.key')}`, `  clientCaFile: ${join(dir, 'ca.crt')}`,
      'webhook:', '  requireClientCert: true', '  allowedClientNames: [kube-apiserver, "*.audit.example"]', '  clientClusters:', '    kube-apiserver: [prod]',
    ].join('\n'));
    const named = await serve(loadConfig({ file: config, env: {}, overrides: { databasePath: join(dir, 'names.db') } }), ['ingest'], createLogger('silent'));
    try {
      const send = (path: string, client: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const url = new URL(named.url + path);
          const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca: file('ca.crt'), cert: file(`${client}.crt`), key: file(`${client}.key`), headers: { 'content-type': 'application/json' } }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
          });
          req.on('error', reject);
          req.end(JSON.stringify(makeEvent()));
        });
      expect((await send('/audit/webhook/prod', 'apiserver')).status).to.equal(200);
      const elsewhere = await send('/audit/webhook/staging', 'apiserver');
      expect(elsewhere.status).to.equal(403);
      expect(JSON.parse(elsewhere.body).error).to.contain('may send for prod (webhook.clientClusters), not for cluster staging');
      // Signed by the same CA, but a node's certificate: not a sender of audit events.
      const node = await send('/audit/webhook/prod', 'node');
      expect(node.status).to.equal(403);
      expect(JSON.parse(node.body).error).to.contain('system:node:worker-1 is not one webhook.allowedClientNames lets send');
      // A DNS name matched by a wildcard, and no cluster limit for it.
      expect((await send('/audit/webhook/staging', 'edge')).status).to.equal(200);
    } finally {
      await named.stop();
    }
  });

  it('refuses a configuration that asks for client certificates without a CA to check them', () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, ['webhook:', '  requireClientCert: true'].join('\n'));
    expect(() => loadConfig({ file: config, env: {} })).to.throw(/webhook.requireClientCert.*needs tls.certFile, tls.keyFile and tls.clientCaFile/);
  });
});
