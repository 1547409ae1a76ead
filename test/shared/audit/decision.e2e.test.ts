import { join } from 'node:path';
import { expect } from 'chai';
import { cliEnv, runCli, tempDir } from '../../helpers.js';

const FIXTURES = join(process.cwd(), 'test', 'fixtures', 'decisions');
const FILES = ['no-annotations.v1beta1.jsonl', 'no-annotations.v1.jsonl'];

describe('decisions of captures without annotations, from the CLI', () => {
  it('kubetrail events --decision forbid finds them, and says which were inferred', async () => {
    const dir = tempDir();
    const env = cliEnv({ KUBETRAIL_DB: join(dir, 'k.db') });
    const ingest = await runCli(['ingest', ...FILES.map((f) => join(FIXTURES, f)), '--cluster', 'old'], env);
    expect(ingest.status, ingest.stderr).to.equal(0);
    const out = await runCli(['events', '--decision', 'forbid', '--since', '2018-01-01T00:00:00Z', '--output', 'json'], env);
    expect(out.status, out.stderr).to.equal(0);
    const rows = JSON.parse(out.stdout) as { auditID: string; decision: string; decisionSource: string }[];
    expect(rows).to.have.length(10);
    expect(rows.filter((r) => r.decisionSource === 'inferred')).to.have.length(8);
    const table = await runCli(['events', '--user', 'bob', '--since', '2018-01-01T00:00:00Z'], env);
    expect(table.stdout).to.match(/forbid\s+inferred/);
  });
});
