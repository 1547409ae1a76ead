import { systemClock } from '../../../services/cli/clock.js';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import { ConfigError, InputError } from '../../../shared/errors.js';
import { loadConfig } from '../../../shared/config.js';
import { readAllEvents } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { archivedDays, listArchives, parseDay, restoreDay, runRetention, verifyArchive } from '../../../shared/storage/sqlite/archive/retention.js';
import { verifyChain } from '../../../shared/storage/sqlite/chain/verifyChain.js';
import { writeBatches, makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 10, 27, 12);
const dayOf = (daysAgo: number) => new Date(NOW - daysAgo * DAY_MS).toISOString().slice(0, 10);

/** Every stored row with its bodies, hashed: byte-identical means the same digest. */
function rowsDigest(db: string, day: string): string {
  const conn = new BetterSqlite3(db, { readonly: true });
  const from = Date.parse(`${day}T00:00:00Z`) * 1000;
  const rows = conn.prepare('SELECT e.*, b.request, b.response FROM events e LEFT JOIN bodies b ON b.event_id = e.id WHERE received_at >= ? AND received_at < ? ORDER BY e.id').raw().all(from, from + DAY_MS * 1000);
  conn.close();
  return createHash('sha256').update(JSON.stringify(rows, (_k, v) => (Buffer.isBuffer(v) || (v && v.type === 'Buffer') ? Buffer.from(v).toString('hex') : v))).digest('hex') + `:${rows.length}`;
}

describe('retention and archives (PCI DSS 10.5.1)', () => {
  const dir = tempDir();
  const db = join(dir, 'kubetrail.db');
  const archiveDir = join(dir, 'archive');
  let digests: Record<string, string>;

  before(() => {
    const store = openStore(db, { clock: systemClock });
    const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
    for (const [daysAgo, n] of [[120, 30], [100, 20], [10, 25]] as const) {
      const at = (i: number) => new Date(NOW - daysAgo * DAY_MS + i * 60_000).toISOString().replace('Z', '000Z');
      const events = Array.from({ length: n }, (_, i) =>
        makeEvent({ requestReceivedTimestamp: at(i), stageTimestamp: at(i), user: { username: i % 2 ? 'alice' : 'bob', groups: ['dev'] }, ...(i === 3 ? { level: 'RequestResponse', verb: 'create', requestObject: { kind: 'Pod', metadata: { name: `p-${daysAgo}` } } } : {}) }),
      );
      writeBatches(writer, [{ cluster: daysAgo === 100 ? 'west' : 'east', source: 'test', events: events.map(parsedEvent), rejected: [] }]);
    }
    store.close();
    digests = Object.fromEntries([120, 100, 10].map((d) => [dayOf(d), rowsDigest(db, dayOf(d))]));
  });

  it('archives each day older than the hot window, keeps the rollups, and the chain still verifies', async () => {
    const store = openStore(db, { clock: systemClock });
    try {
      const rollups = store.db.prepare('SELECT count(*) FROM usage_daily').pluck().get();
      const run = await runRetention(store.db, { hotDays: 90, dir: archiveDir }, NOW * 1000);
      expect(run.archived.map((a) => [a.day, a.rows])).to.deep.equal([[dayOf(120), 30], [dayOf(100), 20]]);
      expect(run.expired).to.deep.equal([]);
      expect(store.db.prepare('SELECT count(*) FROM events').pluck().get()).to.equal(25);
      expect(store.db.prepare('SELECT count(*) FROM usage_daily').pluck().get()).to.equal(rollups);
      const report = verifyChain(store.db);
      expect(report.ok, JSON.stringify(report.problems)).to.equal(true);
      expect(report.archivedRows).to.equal(50);
      // Queries over archived days say so.
      expect(archivedDays(store.db)).to.deep.equal([dayOf(120), dayOf(100)]);
      expect(archivedDays(store.db, (NOW - 30 * DAY_MS) * 1000)).to.deep.equal([]);
      const manifest = JSON.parse(readFileSync(join(archiveDir, `${dayOf(120)}.manifest.json`), 'utf8'));
      expect(manifest).to.include({ day: dayOf(120), rows: 30, sha256: createHash('sha256').update(readFileSync(join(archiveDir, `${dayOf(120)}.ndjson.gz`))).digest('hex') });
      expect(manifest.chain.links[0][1]).to.match(/^[0-9a-f]{64}$/);
      // The archive is readable NDJSON: each line has the event as the API shows it.
      const first = JSON.parse(gunzipSync(readFileSync(join(archiveDir, `${dayOf(120)}.ndjson.gz`))).toString('utf8').split('\n')[0]!);
      expect(first.event.user.username).to.be.oneOf(['alice', 'bob']);
      expect(first.cluster).to.equal('east');
    } finally {
      store.close();
    }
  });

  it('verifies an archive against its SHA-256 and the chain, and notices an altered one', async () => {
    const store = openStore(db, { clock: systemClock });
    try {
      expect(await verifyArchive(store.db, parseDay(dayOf(100)), archiveDir)).to.deep.include({ ok: true, rows: 20, problems: [] });
      const path = join(archiveDir, `${dayOf(120)}.ndjson.gz`);
      const original = readFileSync(path);
      const lines = gunzipSync(original).toString('utf8').split('\n');
      lines[5] = lines[5]!.replace('"alice"', '"mallory"').replace('"bob"', '"mallory"');
      writeFileSync(path, gzipSync(lines.join('\n')));
      const bad = await verifyArchive(store.db, parseDay(dayOf(120)), archiveDir);
      expect(bad.ok).to.equal(false);
      expect(bad.problems.join('\n')).to.contain('SHA-256').and.contain('was altered');
      writeFileSync(path, original);
      // The links it names deleted behind kubetrail's back: reported, not a crash.
      store.db.exec('BEGIN');
      try {
        store.db.exec('DELETE FROM chain_links');
        const unlinked = await verifyArchive(store.db, parseDay(dayOf(100)), archiveDir);
        expect(unlinked.ok).to.equal(false);
        expect(unlinked.problems.join('\n')).to.match(/chain link \d+, which the archive names, is missing from the store/);
      } finally {
        store.db.exec('ROLLBACK');
      }
    } finally {
      store.close();
    }
  });

  it('restores a day byte for byte, and the chain verifies it again', async () => {
    const store = openStore(db, { clock: systemClock });
    try {
      const r = await restoreDay(store.db, parseDay(dayOf(120)), archiveDir, NOW * 1000);
      expect(r).to.deep.equal({ day: dayOf(120), rows: 30 });
      expect(listArchives(store.db).find((a) => a.day === dayOf(120))!.restoredAt).to.be.a('string');
      const report = verifyChain(store.db);
      expect(report.ok, JSON.stringify(report.problems)).to.equal(true);
      expect(report.archivedRows).to.equal(20);
      expect(archivedDays(store.db)).to.deep.equal([dayOf(100)]);
      // A restored day is held a week before the job archives it again.
      expect((await runRetention(store.db, { hotDays: 90, dir: archiveDir }, NOW * 1000)).archived).to.deep.equal([]);
    } finally {
      store.close();
    }
    expect(rowsDigest(db, dayOf(120))).to.equal(digests[dayOf(120)]);
    const reader = openStore(db, { readonly: true });
    const events = [...readAllEvents(reader.db)].filter((s) => s.event.requestReceivedTimestamp.startsWith(dayOf(120)));
    reader.close();
    expect(events).to.have.length(30);
    expect(events.find((s) => s.event.level === 'RequestResponse')!.event.requestObject).to.deep.equal({ kind: 'Pod', metadata: { name: 'p-120' } });
  });

  it('deletes no archive unless retention.deleteArchivesAfterDays says so, years later too', async () => {
    const own = join(dir, 'kept.db');
    const ownArchive = join(dir, 'kept-archive');
    const store = openStore(own, { clock: systemClock });
    try {
      const at = new Date(NOW - 120 * DAY_MS).toISOString().replace('Z', '000Z');
      writeBatches(new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'east', source: 'test', events: [parsedEvent(makeEvent({ requestReceivedTimestamp: at, stageTimestamp: at }))], rejected: [] }]);
      for (const years of [0, 1, 5]) {
        const run = await runRetention(store.db, { hotDays: 90, dir: ownArchive }, (NOW + years * 366 * DAY_MS) * 1000);
        expect(run.expired, `${years} years on`).to.deep.equal([]);
      }
      expect(listArchives(store.db).map((a) => [a.day, a.expiredAt, existsSync(join(ownArchive, a.file))])).to.deep.equal([[dayOf(120), null, true]]);
    } finally {
      store.close();
    }
  });

  it('deletes archives past retention.deleteArchivesAfterDays; the chain still accounts for their rows; a restore says what deleted it', async () => {
    const store = openStore(db, { clock: systemClock });
    try {
      const run = await runRetention(store.db, { hotDays: 90, dir: archiveDir, deleteArchivesAfterDays: 110 }, (NOW + 8 * DAY_MS) * 1000);
      expect(run.archived.map((a) => a.day)).to.deep.equal([dayOf(120)]);
      expect(run.expired).to.deep.equal([dayOf(120)]);
      expect(existsSync(join(archiveDir, `${dayOf(120)}.ndjson.gz`))).to.equal(false);
      expect(verifyChain(store.db).ok).to.equal(true);
      expect((await verifyArchive(store.db, parseDay(dayOf(120)), archiveDir)).problems[0]).to.contain('by retention.deleteArchivesAfterDays: 110');
      const deletedAt = new Date(NOW + 8 * DAY_MS).toISOString();
      let refused: Error | null = null;
      await restoreDay(store.db, parseDay(dayOf(120)), archiveDir, (NOW + 9 * DAY_MS) * 1000).catch((e: Error) => (refused = e));
      expect(refused).to.be.instanceOf(InputError);
      expect(refused!.message).to.equal(`${dayOf(120)} cannot be restored: its archive was deleted on ${deletedAt} by retention.deleteArchivesAfterDays: 110; its daily rollups are still in the store`);
    } finally {
      store.close();
    }
  });

  it('refuses a retention under a year unless overridden', () => {
    const file = join(dir, 'short.yaml');
    writeFileSync(file, 'retention:\n  days: 180\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(ConfigError, /retention.*under the year PCI DSS 10.5.1 asks for; set retention.allowShortRetention: true/);
    writeFileSync(file, 'retention:\n  days: 180\n  allowShortRetention: true\n');
    expect(loadConfig({ file, env: {} }).retention.days).to.equal(180);
    writeFileSync(file, 'retention:\n  days: 400\n  deleteArchivesAfterDays: 200\n');
    expect(() => loadConfig({ file, env: {} })).to.throw(ConfigError, /deleteArchivesAfterDays 200 is less than days 400/);
    writeFileSync(file, 'retention:\n  days: 400\n');
    expect(loadConfig({ file, env: {} }).retention.deleteArchivesAfterDays).to.equal(undefined);
  });

  it('never gives an archived event id out again: history imported after current events, archived, then restored', async () => {
    const store = openStore(join(dir, 'ids.db'), { clock: systemClock });
    try {
      const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
      const write = (daysAgo: number, n: number) => {
        const events = Array.from({ length: n }, (_, i) => {
          const t = new Date(NOW - daysAgo * DAY_MS + i * 1000).toISOString().replace('Z', '000Z');
          return parsedEvent(makeEvent({ requestReceivedTimestamp: t, stageTimestamp: t }));
        });
        writeBatches(writer, [{ cluster: 'east', source: 'test', events, rejected: [] }]);
      };
      write(1, 3); // ids 1-3, current
      write(2000, 2); // ids 4-5, imported history
      const run = await runRetention(store.db, { hotDays: 90, dir: join(dir, 'ids-archive') }, NOW * 1000);
      expect(run.archived.map((a) => a.rows)).to.deep.equal([2]);
      write(0, 1);
      expect(store.db.prepare('SELECT max(id) FROM events').pluck().get()).to.equal(6);
      expect(verifyChain(store.db).ok).to.equal(true);
      expect((await restoreDay(store.db, parseDay(dayOf(2000)), join(dir, 'ids-archive'), NOW * 1000)).rows).to.equal(2);
      expect(store.db.prepare('SELECT count(*) FROM events').pluck().get()).to.equal(6);
      const report = verifyChain(store.db);
      expect(report.ok, JSON.stringify(report.problems)).to.equal(true);
    } finally {
      store.close();
    }
  });
});
