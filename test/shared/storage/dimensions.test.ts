import { systemClock } from '../../../services/cli/clock.js';
import { join } from 'node:path';
import { expect } from 'chai';
import { Dimensions } from '../../../shared/storage/sqlite/write/dimensions.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { tempDir } from '../../helpers.js';

describe('dimension caches', () => {
  const dir = tempDir();

  function intern(dims: Dimensions, values: string[]): void {
    dims.startBatch();
    for (const v of values) dims.want('principals', v, [v, 'u']);
    dims.resolve();
  }

  it('forget their ids once the keys they hold pass a size in characters, not only a count of entries', () => {
    const store = openStore(join(dir, 'a.db'), { clock: systemClock });
    try {
      // Principals of bound tokens are long JSON and without end: 50 of 1,000 characters pass 40,000.
      const dims = new Dimensions(store.db, undefined, 1_000_000, 40_000);
      const long = (i: number) => JSON.stringify({ username: `system:serviceaccount:ns:sa-${i}`, extra: { jti: ['x'.repeat(940) + i] } });
      intern(dims, Array.from({ length: 50 }, (_, i) => long(i)));
      expect(dims.lookup('principals', long(0))).to.be.a('number');
      dims.startBatch();
      expect(dims.lookup('principals', long(0))).to.equal(undefined);
      // Values forgotten are found again, with the same id.
      const before = store.db.prepare('SELECT id FROM principals WHERE json = ?').pluck().get(long(7));
      intern(dims, [long(7)]);
      expect(dims.id('principals', long(7))).to.equal(before);
      // Short values stay cached up to the entry bound.
      const small = new Dimensions(store.db, undefined, 1_000_000, 40_000);
      intern(small, Array.from({ length: 50 }, (_, i) => `u${i}`));
      small.startBatch();
      expect(small.lookup('principals', 'u0')).to.be.a('number');
    } finally {
      store.close();
    }
  });
});
