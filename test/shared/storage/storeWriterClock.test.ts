import { join } from 'node:path';
import { expect } from 'chai';
import { fixedClock } from '../../../shared/clock.js';
import { StoreWriter } from '../../../shared/storage/sqlite/write/storeWriter.js';
import { testPipeline, TEST_REDACTION_KEY, makeEvent, parsedEvent, tempDir } from '../../helpers.js';

describe('the writer thread reads no clock', () => {
  it("records quarantine, alerts and chain links at the time the caller's clock gave the request", async () => {
    const at = Date.UTC(2019, 4, 1, 12);
    const clock = fixedClock(at);
    const writer = await StoreWriter.open(join(tempDir(), 'w.db'), { clock, redactionKey: { key: TEST_REDACTION_KEY, from: 'test' } });
    try {
      const b = testPipeline({ redactionKey: writer.redactionKey }).builder('c', 'test');
      b.addEvent(parsedEvent(makeEvent({ user: { username: 'root', groups: ['system:masters'] } })));
      b.addRejected({ position: 'x', reason: 'bad', raw: '{}' });
      await writer.write([b.finish()]);
      const db = writer.store.db;
      const times = [
        db.prepare('SELECT received_at FROM quarantine').pluck().get(),
        db.prepare('SELECT committed_at FROM chain_links ORDER BY seq DESC LIMIT 1').pluck().get(),
        db.prepare('SELECT raised_at FROM alerts LIMIT 1').pluck().get(),
      ];
      expect(times).to.deep.equal([at * 1000, at * 1000, at * 1000]);
    } finally {
      await writer.close();
    }
  });
});
