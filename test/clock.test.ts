import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';

/** Every TypeScript source under `dir`, as paths relative to the package root. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(process.cwd(), join(e.parentPath, e.name)));
}

// The composition root: the CLI (every command and `serve`). The console runs in the user's
// browser, on the user's clock. The writer thread takes the time each request brings.
const ROOTS = [/^services\/cli\//, /^services\/console\//];

describe('time comes from a clock passed in', () => {
  const files = [...sources('shared'), ...sources('services')];

  it('no module below the composition roots reads the wall clock', () => {
    expect(files.length).to.be.greaterThan(50);
    const offenders = files
      .filter((f) => !ROOTS.some((r) => r.test(f)))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (/\bDate\.now\(|new Date\(\)|systemClock\b/.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders, 'take the time from a Clock argument instead').to.deep.equal([]);
  });

  it('the composition roots read it through systemClock alone', () => {
    const offenders = files
      .filter((f) => ROOTS.some((r) => r.test(f)) && !/^services\/cli\/clock\.ts$|^services\/console\//.test(f))
      .filter((f) => /\bDate\.now\(|new Date\(\)/.test(readFileSync(f, 'utf8')));
    expect(offenders).to.deep.equal([]);
  });
});
