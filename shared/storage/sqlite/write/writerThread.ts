import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../../errors.js';
import { EventWriter } from './eventWriter.js';
import { openStore } from '../openStore.js';
import type { WriterRequest, WriterResponse, WriterThreadOptions } from './storeWriter.js';

/**
 * The writer thread: owns the write connection and commits requests in the order received.
 * Requests that queued up while a commit ran are committed together in one transaction, up to
 * MAX_EVENTS_PER_COMMIT events (spec/sqlite-facts.md: per-commit cost bounds the rate of small
 * batches); if that shared commit fails, each is retried alone, so that one bad request cannot
 * fail the others. Parsing and preparing rows happen on the other thread.
 */
const MAX_EVENTS_PER_COMMIT = 20_000;

const options = workerData as WriterThreadOptions;
// This thread reads no clock: each request brings the caller's time, recorded as now while it commits.
let now = options.startedAt;
const clock = () => now;
// Measured (npm run bench): an 8 MB page cache writes as fast as 16 MB here; the OS caches the rest.
const store = openStore(options.path, { synchronous: options.synchronous, cacheKiB: 8192, clock });
// KUBETRAIL_BENCH_NO_HASH_CHAIN=1 is for `npm run bench` alone: it measures what the chain costs.
const writer = new EventWriter(store, options.quarantineMaxBytes, {
  clock,
  redactionKey: options.redactionKey,
  identityMap: options.identityMap,
  alertThrottleSeconds: options.alertThrottleSeconds,
  hashChain: process.env.KUBETRAIL_BENCH_NO_HASH_CHAIN !== '1',
});
const port = parentPort!;

port.on('message', (first: WriterRequest | 'close') => {
  const queued: (WriterRequest | 'close')[] = [first];
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) queued.push(m.message as WriterRequest | 'close');
  let group: WriterRequest[] = [];
  let events = 0;
  for (const req of queued) {
    if (req === 'close') {
      commit(group);
      store.close();
      port.close();
      return;
    }
    const n = req.batches.reduce((sum, b) => sum + b.size + b.rejected.length, 0);
    if (group.length > 0 && events + n > MAX_EVENTS_PER_COMMIT) {
      commit(group);
      group = [];
      events = 0;
    }
    group.push(req);
    events += n;
  }
  commit(group);
});
port.postMessage({ ready: true });

function commit(group: WriterRequest[]): void {
  if (group.length === 0) return;
  try {
    now = group.at(-1)!.at;
    const results = writer.writeRequests(group);
    group.forEach((req, i) => reply({ id: req.id, results: results[i]! }));
  } catch (err) {
    if (group.length === 1) reply({ id: group[0]!.id, error: errorMessage(err) });
    else for (const req of group) commit([req]);
  }
}

function reply(res: WriterResponse): void {
  port.postMessage(res);
}
