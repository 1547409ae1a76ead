/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self
 * time, and the inclusive time of each function, so that a benchmark's figure can be traced
 * to the code that spends it.
 *
 *   node --cpu-prof --cpu-prof-dir=prof dist/services/cli/main.js ingest events.jsonl --db x.db
 *   node dist/bench/cpuProfileSummary.js prof/*.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  selfMs: number;
  totalMs: number;
}

/** Self and inclusive milliseconds per function (name + file + line), largest self time first. */
export function summarizeProfile(profile: Profile): { totalMs: number; functions: FunctionTime[] } {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const label = (n: ProfileNode) => {
    const f = n.callFrame;
    const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/dist\//, '');
    return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // V8 records each delta before its sample; the next delta is this sample's duration.
    const us = profile.timeDeltas[i + 1] ?? 0;
    totalUs += us;
    let node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const leaf = label(node);
    self.set(leaf, (self.get(leaf) ?? 0) + us);
    const seen = new Set<string>();
    while (node) {
      const name = label(node);
      if (!seen.has(name)) {
        seen.add(name);
        total.set(name, (total.get(name) ?? 0) + us);
      }
      const p = parent.get(node.id);
      node = p === undefined ? undefined : byId.get(p);
    }
  }
  const functions = [...total.keys()].map((name) => ({ name, selfMs: (self.get(name) ?? 0) / 1000, totalMs: total.get(name)! / 1000 }));
  functions.sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: totalUs / 1000, functions };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpuProfileSummary.js FILE.cpuprofile [TOP]\n');
    process.exitCode = 2;
  } else {
    const top = Number(topArg ?? 25);
    const { totalMs, functions } = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
    const pct = (ms: number) => `${((100 * ms) / totalMs).toFixed(1).padStart(5)}%`;
    console.log(`profile: ${(totalMs / 1000).toFixed(2)} s sampled\n\nself time`);
    for (const f of functions.slice(0, top)) console.log(`  ${pct(f.selfMs)}  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}`);
    console.log('\ninclusive time (product code and SQLite calls)');
    const interesting = functions
      .filter((f) => /^(?!.*node_modules)(.*(services|shared)\/)|\b(run|get|transaction|deflateRawSync|parse|stringify)\b/.test(f.name))
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, top);
    for (const f of interesting) console.log(`  ${pct(f.totalMs)}  ${f.totalMs.toFixed(0).padStart(7)} ms  ${f.name}`);
  }
}
