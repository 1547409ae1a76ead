import { systemClock } from '../../../services/cli/clock.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { writeBatches, cliEnv, makeEvent, parsedEvent, runCli, startServe, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const DAY_MS = 86_400_000;

/** Retention through the commands and the server: `retention run`, `archive …`, ingest and the webhook after it. */
describe('retention and archives from the CLI and serve (PCI DSS 10.5.1)', () => {
  const dir = tempDir();

  it('runs from the CLI: retention run, archive list and verify, and events say which days are archived', async () => {
    const cliDb = join(dir, 'cli.db');
    const store = openStore(cliDb, { clock: systemClock });
    const at = new Date(Date.now() - 200 * DAY_MS).toISOString().replace('Z', '000Z');
    writeBatches(new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'east', source: 'test', events: [parsedEvent(makeEvent({ requestReceivedTimestamp: at, stageTimestamp: at }))], rejected: [] }]);
    store.close();
    const env = cliEnv({ KUBETRAIL_DB: cliDb });
    const run = await runCli(['retention', 'run'], env);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.contain(`archived ${at.slice(0, 10)}: 1 events to ${at.slice(0, 10)}.ndjson.gz`);
    const list = JSON.parse((await runCli(['archive', 'list', '--output', 'json'], env)).stdout);
    expect(list[0]).to.include({ day: at.slice(0, 10), state: 'archived', rows: 1 });
    const check = await runCli(['archive', 'verify', at.slice(0, 10)], env);
    expect(check.status).to.equal(0);
    expect(check.stdout).to.match(/^OK: the archive of/);
    const events = await runCli(['events', '--since', '365d'], env);
    expect(events.stderr).to.contain(`1 day(s) of this range are archived and not in this answer (${at.slice(0, 10)})`);
    const verify = await runCli(['verify'], env);
    expect(verify.status, verify.stdout).to.equal(0);
    expect(verify.stdout).to.contain('1 events of archived days are out of the store');
  });

  it('a late event of an archived day joins its archive instead of replacing it, and the day restores whole', async () => {
    const d = tempDir();
    const env = cliEnv({ KUBETRAIL_DB: join(d, 'k.db') });
    const day = '2019-03-04';
    const file = (name: string, n: number, from: number) => {
      const path = join(d, name);
      writeFileSync(path, Array.from({ length: n }, (_, i) => JSON.stringify(makeEvent({ requestReceivedTimestamp: `${day}T10:00:${String(from + i).padStart(2, '0')}.000000Z`, stageTimestamp: `${day}T10:00:${String(from + i).padStart(2, '0')}.000001Z` }))).join('\n') + '\n');
      return path;
    };
    expect((await runCli(['ingest', file('first.jsonl', 3, 0), '--cluster', 'c'], env)).status).to.equal(0);
    expect((await runCli(['retention', 'run'], env)).stdout).to.contain(`archived ${day}: 3 events`);
    // Days later, one more event of that day arrives (a delayed pipeline, a backfill).
    expect((await runCli(['ingest', file('late.jsonl', 1, 30), '--cluster', 'c'], env)).status).to.equal(0);
    expect((await runCli(['retention', 'run'], env)).stdout).to.contain(`archived ${day}: 4 events`);
    const list = JSON.parse((await runCli(['archive', 'list', '--output', 'json'], env)).stdout) as { day: string; rows: number }[];
    expect(list.map((a) => [a.day, a.rows])).to.deep.equal([[day, 4]]);
    expect((await runCli(['archive', 'verify', day], env)).status).to.equal(0);
    expect((await runCli(['archive', 'restore', day], env)).stdout).to.contain(`restored ${day}: 4 events`);
    const shown = await runCli(['events', '--since', `${day}T00:00:00Z`, '--until', `${day}T23:59:59Z`, '--output', 'ndjson', '--limit', '0'], env);
    expect(shown.stdout.trim().split('\n')).to.have.length(4);
    expect((await runCli(['verify'], env)).status).to.equal(0);
  });

  it('keeps taking events after retention archived every stored one: ingest, the webhook, verify, and the day restores', async function () {
    this.timeout(60_000);
    const d = tempDir();
    const env = cliEnv({ KUBETRAIL_DB: join(d, 'k.db') });
    const eventAt = (t: string) => makeEvent({ requestReceivedTimestamp: t, stageTimestamp: t });
    const file = (name: string, t: string) => {
      const path = join(d, name);
      writeFileSync(path, `${JSON.stringify(eventAt(t))}\n`);
      return path;
    };
    // The CLI runs on the system clock: "current" is whatever day the suite runs on.
    const current = () => new Date().toISOString().replace('Z', '000Z');
    const first = await runCli(['ingest', file('old.jsonl', '2018-10-26T13:42:46.764713Z'), '--cluster', 'c'], env);
    expect(first.status).to.equal(0);
    expect(first.stderr).to.match(/note: events from 2018-10-26 on lie before the hot window \(retention.hotDays 90: from \d{4}-\d{2}-\d{2}\); the retention job .* will move those days to archives/);
    const run = await runCli(['retention', 'run'], env);
    expect(run.stdout).to.contain('archived 2018-10-26: 1 events').and.contain('archives are kept until you delete them');
    const later = await runCli(['ingest', file('new.jsonl', current()), '--cluster', 'c'], env);
    expect(later.status, later.stderr).to.equal(0);
    expect(later.stdout).to.match(/stored 1/);
    const { child, url } = await startServe([], env);
    try {
      const res = await fetch(`${url}/audit/webhook/c`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(eventAt(current())) });
      expect(res.status, await res.text()).to.equal(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    const verify = await runCli(['verify'], env);
    expect(verify.status, verify.stdout).to.equal(0);
    expect((await runCli(['archive', 'restore', '2018-10-26'], env)).status).to.equal(0);
    const all = JSON.parse((await runCli(['events', '--since', '2018-01-01T00:00:00Z', '--limit', '0', '--output', 'json'], env)).stdout) as unknown[];
    expect(all).to.have.length(3);
    expect((await runCli(['verify'], env)).status).to.equal(0);
  });
});
