import { statSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import { readAllEvents } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { cliEnv, makeEvent, runCli, tempDir } from '../../helpers.js';

/** What someone with a copy of the store learns: no key, and only the owner reads the files. */
describe('the redaction key and the files of the store', () => {
  const secretEvent = (value: string) =>
    makeEvent({ level: 'Request', verb: 'create', requestReceivedTimestamp: '2018-10-26T13:42:46.764713Z', stageTimestamp: '2018-10-26T13:42:46.764713Z', objectRef: { resource: 'secrets', namespace: 'a', name: 's', apiVersion: 'v1' }, requestObject: { kind: 'Secret', stringData: { password: value } } });
  it('keeps the key in a 0600 file outside the store, uses the whole HMAC, and makes every file 0600 in 0700 folders', async () => {
    const dir = tempDir();
    const env = cliEnv({ KUBETRAIL_DB: join(dir, 'data', 'k.db') });
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, JSON.stringify(secretEvent('Winter2025!')) + '\n');
    expect((await runCli(['ingest', file, '--cluster', 'c'], env)).status).to.equal(0);
    expect((await runCli(['retention', 'run'], env)).status).to.equal(0);
    const keyFile = join(dir, 'data', 'kubetrail-redaction.key');
    expect(readFileSync(keyFile, 'utf8').trim()).to.match(/^[0-9a-f]{64}$/);
    const db = new BetterSqlite3(join(dir, 'data', 'k.db'), { readonly: true });
    expect(db.prepare("SELECT count(*) FROM meta WHERE key = 'redaction_key'").pluck().get()).to.equal(0);
    db.close();
    const archive = join(dir, 'data', 'archive');
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(join(dir, 'data'))).to.equal(0o700);
    expect(mode(archive)).to.equal(0o700);
    for (const f of ['k.db', 'kubetrail-redaction.key']) expect(mode(join(dir, 'data', f)), f).to.equal(0o600);
    for (const f of readdirSync(archive)) expect(mode(join(archive, f)), f).to.equal(0o600);
    const archived = readdirSync(archive).find((f) => f.endsWith('.manifest.json'));
    expect(archived).to.not.equal(undefined);
  });

  it("moves an earlier store's key out of it, keeping its markers, and takes a key from KUBETRAIL_REDACTION_KEY", async () => {
    const dir = tempDir();
    const path = join(dir, 'k.db');
    const env = cliEnv({ KUBETRAIL_DB: path });
    const first = secretEvent('Same-Secret-1');
    const second = secretEvent('Same-Secret-1');
    writeFileSync(join(dir, 'a.jsonl'), JSON.stringify(first) + '\n');
    expect((await runCli(['ingest', join(dir, 'a.jsonl'), '--cluster', 'c'], env)).status).to.equal(0);
    // As an earlier kubetrail left it: the key in the store, no key file.
    const key = readFileSync(join(dir, 'kubetrail-redaction.key'), 'utf8').trim();
    const db = new BetterSqlite3(path);
    db.prepare("INSERT INTO meta (key, value) VALUES ('redaction_key', ?)").run(Buffer.from(key, 'hex'));
    db.close();
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'kubetrail-redaction.key'));
    writeFileSync(join(dir, 'b.jsonl'), JSON.stringify(second) + '\n');
    expect((await runCli(['ingest', join(dir, 'b.jsonl'), '--cluster', 'c'], env)).status).to.equal(0);
    expect(readFileSync(join(dir, 'kubetrail-redaction.key'), 'utf8').trim()).to.equal(key);
    const after = new BetterSqlite3(path, { readonly: true });
    expect(after.prepare("SELECT count(*) FROM meta WHERE key = 'redaction_key'").pluck().get()).to.equal(0);
    after.close();
    // Equal secrets still show as equal, before and after the move: the whole HMAC, same key.
    const reader = openStore(path, { readonly: true });
    const passwords = [...readAllEvents(reader.db)].map((e) => (e.event.requestObject as { stringData: { password: string } }).stringData.password);
    reader.close();
    expect(passwords).to.have.length(2);
    expect(passwords[0]).to.match(/^kubetrail:redacted:[0-9a-f]{64}$/).and.equal(passwords[1]);
    const fromEnv = cliEnv({ KUBETRAIL_DB: join(dir, 'env.db'), KUBETRAIL_REDACTION_KEY: 'zz' });
    const bad = await runCli(['ingest', join(dir, 'a.jsonl'), '--cluster', 'c'], fromEnv);
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.contain('KUBETRAIL_REDACTION_KEY: expected a key of at least 64 hexadecimal digits');
  });
});
