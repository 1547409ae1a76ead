import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, type Config } from '../../shared/config.js';
import { AuditEventGenerator } from '../../shared/demo/generateEvents.js';
import { DEMO_RBAC, incidentEvents } from '../../shared/demo/incident.js';
import { InputError } from '../../shared/errors.js';
import type { Clock } from '../../shared/clock.js';
import { ingestCommand } from './ingestCommand.js';
import { loadCommand } from './rbacCommand.js';

export interface DemoFlags {
  db: string;
  hours: string;
  rate: string;
  listen: string;
}

export const DEMO_CLUSTER = 'demo';

/**
 * `kubetrail demo`: a realistic day (or `--hours`) of one cluster's audit log, ending now, with
 * an incident woven in (shared/demo/incident.ts), stored in a store of its own with an RBAC
 * snapshot; returns the configuration to serve it with. Refuses a store that exists: the demo
 * never mixes into real data.
 */
export async function demoCommand(flags: DemoFlags, clock: Clock): Promise<{ config: Readonly<Config>; configFile: string }> {
  const hours = Number(flags.hours);
  if (!/^\d+$/.test(flags.hours) || hours < 1 || hours > 24 * 7) throw new InputError(`--hours: expected a whole number of hours from 1 to 168, got '${flags.hours}'`);
  const rate = Number(flags.rate);
  if (!(rate > 0 && rate <= 200)) throw new InputError(`--rate: expected requests per second from 0.1 to 200, got '${flags.rate}'`);
  const db = resolve(flags.db);
  if (existsSync(db)) throw new InputError(`--db: ${db} exists; the demo writes a store of its own: remove it or name another --db`);
  const dir = dirname(db);
  mkdirSync(dir, { recursive: true });

  // The demo's own configuration: a short usage window (one day is enough to judge), loopback.
  const configFile = join(dir, 'kubetrail-demo.yaml');
  writeFileSync(configFile, [`cluster: ${DEMO_CLUSTER}`, `listen: ${flags.listen}`, 'database:', `  path: ${JSON.stringify(db)}`, 'rbac:', '  minWindowDays: 1', ''].join('\n'));
  const config = loadConfig({ file: configFile, env: {} });

  const endMicros = clock() * 1000;
  const log = join(dir, 'demo-audit.log');
  process.stderr.write(`kubetrail demo: writing ${hours} h of cluster '${DEMO_CLUSTER}' at ${rate} requests/s, with an incident, to ${log}\n`);
  await writeDay(log, endMicros - hours * 3600e6, endMicros, rate);
  const rbac = join(dir, 'demo-rbac.yaml');
  writeFileSync(rbac, DEMO_RBAC);

  const code = await ingestCommand([log], { config, output: 'text', cluster: DEMO_CLUSTER });
  if (code !== 0) throw new Error(`the demo's own audit log did not ingest cleanly (exit ${code}): please report this`);
  // Stored: the log itself (about 1.2 KB an event) is not worth its disk.
  rmSync(log);
  await loadCommand(config, [rbac], { cluster: DEMO_CLUSTER, output: 'text' });
  return { config, configFile };
}

/** The generated traffic from `startMicros`, then the incident, as JSON lines. */
async function writeDay(path: string, startMicros: number, endMicros: number, rate: number): Promise<void> {
  const out = createWriteStream(path);
  const gen = new AuditEventGenerator({ startMicros, requestsPerSecond: rate });
  const end = new Date(endMicros / 1000).toISOString();
  let chunk = '';
  for (;;) {
    const line = gen.next();
    // Lines are in time order but for a watch's completion: stop at the first past the end.
    if (line.slice(line.indexOf('"requestReceivedTimestamp":"') + 28, line.indexOf('"requestReceivedTimestamp":"') + 52) >= end) break;
    chunk += `${line}\n`;
    if (chunk.length >= 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  for (const e of incidentEvents(endMicros)) chunk += `${JSON.stringify(e)}\n`;
  out.end(chunk);
  await once(out, 'finish');
}

/** What to look at, once the demo is stored (and served at `url`). */
export function demoGuide(url: string | null, configFile: string): string {
  const cli = `kubetrail --config ${configFile}`;
  return [
    '',
    'The demo cluster had an incident in its last three hours. Three questions to try:',
    '',
    '  1. Who used the break-glass account kubernetes-admin, and what did they do with it?',
    `       kubetrail alerts --rule unattributed-break-glass --config ${configFile}`,
    `       kubetrail events --user kubernetes-admin --since 4h --config ${configFile}`,
    '  2. Who is behind the privileged pod in payments? (a controller made it: the alert follows the owners)',
    `       kubetrail alerts --rule privileged-workload --config ${configFile}`,
    '  3. Which of erin@example.com\'s bindings can go?',
    `       kubetrail rbac report --subject erin@example.com --config ${configFile}`,
    '',
    url ? `The console: ${url}/  (Ctrl-C stops the server)` : `Serve the console: ${cli.replace('kubetrail --config', 'kubetrail serve --config')}`,
    '',
  ].join('\n');
}
