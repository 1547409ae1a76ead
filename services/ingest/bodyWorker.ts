import { parentPort, workerData } from 'node:worker_threads';
import { createDetector } from '../../shared/detect/addressFile.js';
import { createLogger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import { IngestPipeline } from '../../shared/pipeline/ingestPipeline.js';
import type { BodyRequest, BodyResponse, BodyThreadData } from './bodyParser.js';
import { relayMessages } from './relayMessages.js';
import { bodyToBatch } from './webhookBody.js';

/**
 * The webhook's body thread: decodes a body and validates its events; for the store, also
 * redacts, attributes and runs the detections, and hands back flat records; for the Kafka relay,
 * hands back a message per event. A 30 MB body takes seconds of CPU: here, not on the thread
 * that answers /healthz and the query API.
 */
const data = workerData as BodyThreadData;
const log = createLogger();
// The same pipeline as the store's other sources, composed on this thread.
const pipeline = new IngestPipeline({ redactionKey: data.redactionKey, detector: data.detector ? createDetector(data.detector, (m) => log.warn(m)) : null, splitTokens: data.splitTokens });
const port = parentPort!;

port.on('message', (m: BodyRequest) => {
  let reply: BodyResponse;
  try {
    const body = Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    if (data.mode === 'relay') {
      // Events travel on as JSON: decoded whole (a relayed event is under Kafka's message cap anyway).
      const { batch, badBody } = bodyToBatch(body, m.cluster);
      reply = { id: m.id, prepared: relayMessages(batch), badBody, firstRejected: batch.rejected[0]?.reason };
    } else {
      const { batch, badBody } = bodyToBatch(body, m.cluster, true);
      reply = { id: m.id, prepared: pipeline.prepare({ ...batch, source: 'webhook' }), badBody, firstRejected: batch.rejected[0]?.reason };
    }
  } catch (err) {
    reply = { id: m.id, error: errorMessage(err) };
  }
  const transfer = 'prepared' in reply && 'numbers' in reply.prepared ? [reply.prepared.numbers.buffer as ArrayBuffer] : [];
  port.postMessage(reply, transfer);
});
