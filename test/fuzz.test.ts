import { expect } from 'chai';
import { fuzz } from './fuzz/run.js';
import { TARGETS } from './fuzz/targets.js';

/** A short smoke of every fuzz target, seeds first (`npm run fuzz` runs them for longer). */
describe('fuzzing (smoke)', function () {
  this.timeout(60_000);
  for (const t of TARGETS) {
    it(`${t.name}: ${t.property}`, () => {
      const r = fuzz(t, 2, 18);
      expect(r.failures.map((f) => `${f.error}\n  input: ${JSON.stringify(f.input.slice(0, 300))}`)).to.deep.equal([]);
      expect(r.executions).to.be.greaterThan(t.seeds.length);
      // Guided by coverage: the seeds alone reach paths, and some are kept to mutate further.
      expect(r.paths).to.be.greaterThan(0);
      expect(r.corpus).to.be.greaterThan(0);
    });
  }
});
