import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { systemClock } from '../../../services/cli/clock.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { TEST_REDACTION_KEY, tempDir } from '../../helpers.js';

describe('quarantine kept verbatim by an earlier kubetrail', () => {
  it('is redacted when a writer next opens the store, and no page of the file keeps the old bytes', () => {
    const path = join(tempDir(), 'old.db');
    const SECRET = 'Old-Plaintext-In-Quarantine-55';
    const store = openStore(path, { clock: systemClock });
    const raw = JSON.stringify({ kind: 'Event', requestObject: { kind: 'Secret', stringData: { password: SECRET } } });
    // As an earlier kubetrail wrote it: the bytes as received, no SHA-256.
    store.db.prepare("INSERT INTO quarantine (received_at, source, cluster, position, reason, raw, raw_size) VALUES (1, 'webhook', 'c', 'item 0', 'x', ?, ?)").run(Buffer.from(raw), raw.length);
    store.db.prepare("INSERT INTO quarantine (received_at, source, cluster, position, reason, raw, raw_size) VALUES (1, 'file', 'c', 'f:1', 'cut', ?, ?)").run(Buffer.from(raw.slice(0, -10)), raw.length);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    expect(readFileSync(path).includes(SECRET)).to.equal(true);

    // A writer opening it, as ingest and serve do.
    const again = openStore(path, { clock: systemClock });
    new EventWriter(again, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
    const rows = again.db.prepare('SELECT raw, raw_sha256 FROM quarantine ORDER BY id').all() as { raw: Buffer; raw_sha256: string }[];
    again.close();
    expect(rows.map((r) => r.raw_sha256)).to.deep.equal(['', '']);
    for (const r of rows) expect(r.raw.toString()).to.contain('kubetrail:redacted:').and.not.contain(SECRET);
    expect(readFileSync(path).includes(SECRET)).to.equal(false);
  });
});
