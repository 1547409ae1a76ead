import { parentPort, workerData } from 'node:worker_threads';
import { createRedactor } from '../../shared/audit/redact.js';
import { Detector, type DetectorOptions } from '../../shared/detect/engine.js';
import { errorMessage } from '../../shared/errors.js';
import { PrincipalCache } from '../../shared/identity/principals.js';
import { RecordBatchBuilder } from '../../shared/storage/eventRows.js';
import type { BodyRequest, BodyResponse } from './bodyParser.js';
import { bodyToBatch } from './webhookBody.js';

/**
 * The webhook's body thread: decodes a body, validates, redacts, attributes and runs the
 * detections on its events, and hands back flat records. A 30 MB body takes seconds of CPU:
 * here, not on the thread that answers /healthz and the query API.
 */
const data = workerData as { redactionKey: Uint8Array; detector: DetectorOptions | null };
const redact = createRedactor(data.redactionKey);
const detector = data.detector ? new Detector(data.detector) : null;
const principals = new PrincipalCache();
const port = parentPort!;

port.on('message', (m: BodyRequest) => {
  let reply: BodyResponse;
  try {
    const { batch, badBody } = bodyToBatch(Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), m.cluster, true);
    const builder = new RecordBatchBuilder(redact, m.cluster, 'webhook', detector ? (p, c, k) => detector.detect(p, c, k) : undefined, principals);
    for (const e of batch.events) builder.addEvent(e);
    for (const r of batch.rejected) builder.addRejected(r);
    reply = { id: m.id, records: builder.finish(), badBody, firstRejected: batch.rejected[0]?.reason };
  } catch (err) {
    reply = { id: m.id, error: errorMessage(err) };
  }
  port.postMessage(reply, 'records' in reply ? [reply.records.numbers.buffer as ArrayBuffer] : []);
});
