import { parentPort, workerData } from 'node:worker_threads';
import { storedRows, toLink } from './hashChain.js';
import { openStore } from '../openStore.js';
import { checkLinkRows, type ArchivedRanges } from './verifyChain.js';

/** A verify worker: checks the rows of links from..to on a read-only connection of its own, and posts the checks. */
const { path, from, to, archived } = workerData as { path: string; from: number; to: number; archived: ArchivedRanges };
const store = openStore(path, { readonly: true });
try {
  const readRows = storedRows(store.db);
  const links = store.db.prepare('SELECT * FROM chain_links WHERE seq BETWEEN ? AND ? ORDER BY seq').iterate(from, to);
  const checks = [...links].map((r) => checkLinkRows(readRows, toLink(r as Record<string, unknown>), archived));
  parentPort!.postMessage(checks);
} finally {
  store.close();
}
