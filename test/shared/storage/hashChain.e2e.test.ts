import { systemClock } from '../../../services/cli/clock.js';
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { verifyChain, verifyChainParallel } from '../../../shared/storage/sqlite/chain/verifyChain.js';
import { writeBatches, cliEnv, corpusDir, makeEvent, parsedEvent, runCli, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

/** Three transactions over two days, with a body, two users and a duplicate. */
function seed(db: string): void {
  const store = openStore(db, { clock: systemClock });
  const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
  const day = (d: number, i: number) => `2026-07-${String(20 + d).padStart(2, '0')}T10:00:${String(i).padStart(2, '0')}.000001Z`;
  const batch = (d: number, n: number, user: string) =>
    Array.from({ length: n }, (_, i) => makeEvent({ requestReceivedTimestamp: day(d, i), stageTimestamp: day(d, i), user: { username: user, groups: ['dev'] }, objectRef: { resource: 'pods', namespace: 'a', name: `p-${d}-${i}`, apiVersion: 'v1' } }));
  const first = batch(0, 20, 'alice');
  writeBatches(writer, [{ cluster: 'east', source: 'test', events: first.map(parsedEvent), rejected: [] }]);
  const withBody = makeEvent({ requestReceivedTimestamp: day(1, 59), stageTimestamp: day(1, 59), level: 'RequestResponse', verb: 'create', requestObject: { kind: 'Pod', metadata: { name: 'x' } } });
  writeBatches(writer, [{ cluster: 'east', source: 'test', events: [...batch(1, 15, 'bob'), withBody, first[0]!].map(parsedEvent), rejected: [] }]);
  writeBatches(writer, [{ cluster: 'west', source: 'test', events: [...batch(0, 5, 'carol'), ...batch(1, 5, 'carol')].map(parsedEvent), rejected: [] }]);
  store.close();
}

describe('hash chain over stored events (PCI DSS 10.3.4)', () => {
  const dir = tempDir();
  const clean = join(dir, 'clean.db');
  before(() => seed(clean));

  /** A copy of the clean store, altered with plain SQL behind kubetrail's back. */
  function tampered(sql: string): string {
    const path = join(dir, `t-${Math.random().toString(36).slice(2)}.db`);
    const src = new BetterSqlite3(clean);
    src.pragma('wal_checkpoint(TRUNCATE)');
    src.close();
    copyFileSync(clean, path);
    const db = new BetterSqlite3(path);
    db.exec(sql);
    db.close();
    return path;
  }
  const verify = (path: string) => {
    const store = openStore(path, { readonly: true });
    try {
      return verifyChain(store.db);
    } finally {
      store.close();
    }
  };

  it('links every transaction that stored events, and verifies a store nobody touched', () => {
    const r = verify(clean);
    expect(r.ok, JSON.stringify(r.problems)).to.equal(true);
    expect(r.links).to.equal(3);
    expect(r.rows).to.equal(20 + 16 + 10);
    expect(r.head!.hash).to.match(/^[0-9a-f]{64}$/);
  });

  const cases: [string, string, string, RegExp][] = [
    ['a changed column', 'UPDATE events SET code = 500 WHERE id = 7', 'changed', /event 7 differs from what link 1 recorded/],
    // Ids are hashed as 32-bit words: values that do not fit one must not pass for one that does.
    ['an id column moved by 2^32', 'UPDATE events SET user_id = user_id + 4294967296 WHERE id = 9', 'changed', /event 9 differs from what link 1 recorded/],
    ['a fraction in an id column', 'UPDATE events SET verb_id = verb_id + 0.5 WHERE id = 10', 'changed', /event 10 differs from what link 1 recorded/],
    ['text in a number column', "UPDATE events SET stage = 'x' WHERE id = 11", 'changed', /event 11 differs from what link 1 recorded/],
    ['a changed body', 'UPDATE bodies SET request = x\'00\'', 'changed', /event 36 differs from what link 2 recorded/],
    ['a deleted row', 'DELETE FROM events WHERE id = 30', 'deleted', /event 30 of link 2 is missing/],
    ['an inserted row past the head', "INSERT INTO events SELECT 1000, cluster_id, x'01', stage, level, received_at, stage_delay, verb_id, user_id, impersonated_id, source_ips_id, user_agent_id, resource_id, object_id, resource_version, path_id, query, code, decision, reason_id, annotations_id, shape, residual, source_version, has_body, token_id FROM events WHERE id = 3", 'inserted', /event 1000 is past the chain head/],
    ['a row inserted into a hole', "DELETE FROM events WHERE id = 12; INSERT INTO events SELECT 12, cluster_id, x'02', stage, level, received_at, stage_delay, verb_id, user_id, impersonated_id, source_ips_id, user_agent_id, resource_id, object_id, resource_version, path_id, query, code, decision, reason_id, annotations_id, shape, residual, source_version, has_body, token_id FROM events WHERE id = 13", 'changed', /event 12 differs/],
    ['an event pointed at another token', 'UPDATE events SET token_id = 1 WHERE id = 5', 'changed', /event 5 differs/],
    ['a renamed user (a dimension row)', "UPDATE principals SET username = 'mallory' WHERE username = 'bob'", 'dimensions', /link 2 does not hash as recorded: a row it added to the users, objects or strings its events point to \(.*principals/],
    ['an edited link', 'UPDATE chain_links SET committed_at = committed_at + 1 WHERE seq = 2', 'dimensions', /link 2 does not hash as recorded/],
    ['a deleted link', 'DELETE FROM chain_links WHERE seq = 2', 'link', /links 2..2 are missing/],
    ['a rewritten record of rows', "UPDATE chain_links SET days = '[]' WHERE seq = 3", 'link', /link 3's record of its rows/],
  ];
  for (const [what, sql, kind, message] of cases) {
    it(`finds ${what}, first and by name`, async () => {
      const path = tampered(sql);
      const r = verify(path);
      // Worker threads, one per link here, find the same.
      const store = openStore(path, { readonly: true });
      try {
        expect(await verifyChainParallel(store.db, path, { workers: 3 })).to.deep.equal(r);
      } finally {
        store.close();
      }
      expect(r.ok).to.equal(false);
      expect(r.problems[0]!.kind, JSON.stringify(r.problems)).to.equal(kind);
      expect(r.problems[0]!.detail).to.match(message);
    });
  }

  it('hashes dimension rows another writer added by reading them back, and its own from memory', () => {
    const path = tampered("INSERT INTO strings (value) VALUES ('from another writer')");
    const store = openStore(path, { clock: systemClock });
    const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
    // This writer's next link covers the foreign row and the rows it interns itself.
    writeBatches(writer, [{ cluster: 'north', source: 'test', events: [parsedEvent(makeEvent({ userAgent: 'new-agent/1.0', user: { username: 'dora' } }))], rejected: [] }]);
    writeBatches(writer, [{ cluster: 'north', source: 'test', events: [parsedEvent(makeEvent({ userAgent: 'new-agent/2.0', user: { username: 'erin' } }))], rejected: [] }]);
    store.close();
    const r = verify(path);
    expect(r.ok, JSON.stringify(r.problems)).to.equal(true);
    expect(r.links).to.equal(5);
  });

  it('covers events stored before the chain began with the next write', () => {
    const path = tampered('DELETE FROM chain_links');
    expect(verify(path).problems[0]!.detail).to.match(/past the chain head/);
    const store = openStore(path, { clock: systemClock });
    writeBatches(new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'east', source: 'test', events: [parsedEvent(makeEvent())], rejected: [] }]);
    store.close();
    const r = verify(path);
    expect(r.ok, JSON.stringify(r.problems)).to.equal(true);
    expect([r.links, r.rows]).to.deep.equal([1, 47]);
  });

  it('kubetrail verify prints the first problem and exits 1; 0 and the head when intact', async () => {
    const ok = await runCli(['verify', '--db', clean], cliEnv());
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^OK: 3 links and 46 events checked/).and.match(/chain head: link 3 [0-9a-f]{64}/);
    const bad = await runCli(['verify', '--db', tampered('UPDATE events SET verb_id = 7 WHERE id = 40'), '--output', 'json'], cliEnv());
    expect(bad.status).to.equal(1);
    const report = JSON.parse(bad.stdout);
    expect(report.problems[0]).to.include({ kind: 'changed', seq: 3, eventId: 40 });
    // Links committed before --since are taken as stored: a future time checks none.
    const since = await runCli(['verify', '--db', clean, '--since', new Date(Date.now() + 60_000).toISOString()], cliEnv());
    expect(since.stdout).to.match(/^OK: 0 links and 0 events checked \(links committed since/).and.match(/chain head: link 3 /);
  });
});

describe('hash chain over the corpus', function () {
  const dir = tempDir();
  it('verifies every real capture as stored, Falco and cloud formats alike, and notices one changed byte', async function () {
    const corpus = corpusDir(this);
    if (!corpus) return;
    const db = join(dir, 'corpus.db');
    const falco = join(corpus, 'audit', 'falco');
    const files = readdirSync(falco).filter((f) => f.endsWith('.json')).map((f) => join(falco, f));
    const cloud = readdirSync(join(corpus, 'audit', 'cloud')).map((f) => join(corpus, 'audit', 'cloud', f));
    for (const f of [files, cloud]) {
      const r = await runCli(['ingest', '--db', db, ...f], cliEnv());
      expect(r.status, r.stderr).to.be.oneOf([0, 2]);
    }
    const ok = await runCli(['verify', '--db', db, '--output', 'json'], cliEnv());
    const report = JSON.parse(ok.stdout);
    expect(report.ok, JSON.stringify(report.problems)).to.equal(true);
    expect(report.links).to.equal(2);
    expect(report.rows).to.be.greaterThan(50);
    const conn = new BetterSqlite3(db);
    conn.prepare("UPDATE events SET residual = replace(residual, 'a', 'b') WHERE id = (SELECT min(id) FROM events WHERE residual LIKE '%a%')").run();
    conn.close();
    const bad = await runCli(['verify', '--db', db], cliEnv());
    expect(bad.status).to.equal(1);
    expect(bad.stdout).to.match(/first problem: changed: event \d+ differs/);
  });
});
