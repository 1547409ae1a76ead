import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createGunzip } from 'node:zlib';
import express, { type Request, type Response, type Router } from 'express';
import { PayloadTooLargeError, StoreUnavailableError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Metrics } from '../../shared/metrics.js';
import type { WriteResult } from '../../shared/storage/sqlite/write/eventWriter.js';
import type { RecordBatch } from '../../shared/storage/recordBatch.js';
import type { PreparedBody } from './bodyParser.js';
import { certificateNames, clientRefusal } from './clientNames.js';
import type { RelayMessages } from './relayMessages.js';

/**
 * Where bodies go: prepared on the body thread (records for the store, messages for the Kafka
 * relay), then committed (StoreSink) or published (KafkaRelay).
 */
export interface BodySink<T> {
  parser: { prepare(body: Buffer, cluster: string): Promise<PreparedBody<T>> };
  commit(prepared: T, cluster: string): Promise<WriteResult>;
}

export interface WebhookOptions {
  queue: BodySink<RecordBatch> | BodySink<RelayMessages>;
  log: Logger;
  defaultCluster: string;
  maxBodyBytes: number;
  /** Bearer tokens accepted; empty = no authentication. */
  tokens: readonly string[];
  /** Mutual TLS: refuse a request without a client certificate the server's CA verified. */
  requireClientCert?: boolean;
  /** Bodies read or prepared at once; beyond, 503 with Retry-After (the apiserver retries). */
  maxConcurrentBodies?: number;
  /** With requireClientCert: the certificate names (CN or DNS SAN, `*` wildcards) that may send; empty = any the CA signed. */
  allowedClientNames?: readonly string[];
  /** With requireClientCert: the clusters (path segments) a certificate name may send for. */
  clientClusters?: Readonly<Record<string, readonly string[]>>;
  metrics?: Metrics;
  /** `webhook`, or `relay` when batches go to Kafka. */
  source?: string;
  /** Milliseconds since the epoch, for the timestamp of Firehose's answers. */
  clock?: () => number;
}

/** A cluster name in the path: what a kubeconfig or DNS name would allow. */
const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/**
 * The kube-apiserver audit webhook target (PRODUCT.md "HTTP"): `POST /audit/webhook[/:cluster]`
 * with an EventList or an Event. Answers 2xx only after the events are committed.
 */
export function createWebhookRouter(options: WebhookOptions): Router {
  const router = express.Router();
  let inFlight = 0;
  const handlerOf = (protocol: Protocol) => async (req: Request, res: Response) => {
    const reply = replier(protocol, req, res, options.clock ?? Date.now);
    if (inFlight >= (options.maxConcurrentBodies ?? Infinity)) {
      reply(503, { error: `${inFlight} webhook bodies are being processed (webhook.maxConcurrentBodies); send again shortly` }, { 'Retry-After': '2', Connection: 'close' });
      res.on('finish', () => req.destroy());
      return;
    }
    inFlight++;
    try {
      await handle(req, res, protocol, reply);
    } finally {
      inFlight--;
    }
  };
  const handle = async (req: Request, res: Response, protocol: Protocol, reply: Reply) => {
    const param = req.params.cluster;
    const cluster = typeof param === 'string' ? param : options.defaultCluster;
    if (!CLUSTER_NAME.test(cluster)) {
      reply(400, { error: `cluster name in the path: expected letters, digits, '.', '_' or '-', got '${cluster}'` });
      return;
    }
    if (options.requireClientCert) {
      const socket = req.socket as TLSSocket;
      if (!socket.encrypted || !socket.authorized) {
        const why = socket.encrypted ? (socket.authorizationError ? String(socket.authorizationError) : 'no certificate') : 'not TLS';
        reply(401, { error: `the audit webhook needs a client certificate signed by tls.clientCaFile (${why})` });
        return;
      }
      const refusal = clientRefusal(certificateNames(socket.getPeerCertificate()), cluster, options.allowedClientNames ?? [], options.clientClusters ?? {});
      if (refusal) {
        options.log.warn({ cluster, reason: refusal }, 'webhook client certificate refused');
        reply(403, { error: refusal });
        return;
      }
    }
    if (options.tokens.length > 0 && protocol === 'webhook' && !hasValidToken(req, options.tokens)) {
      reply(401, { error: 'missing or wrong bearer token for the audit webhook' }, { 'WWW-Authenticate': 'Bearer' });
      return;
    }
    // Firehose sends the access key of its HTTP endpoint destination in a header of its own.
    if (options.tokens.length > 0 && protocol === 'firehose' && !isOneOf(req.headers['x-amz-firehose-access-key'], options.tokens)) {
      reply(401, { error: 'missing or wrong X-Amz-Firehose-Access-Key (one of webhook.tokens)' });
      return;
    }
    const log = options.log.child({ cluster });
    let body: Buffer;
    try {
      body = await readBody(req, options.maxBodyBytes);
    } catch (err) {
      if (err instanceof PayloadTooLargeError) {
        log.warn({ limit: options.maxBodyBytes }, 'webhook body over the cap');
        reply(413, { error: err.message }, { Connection: 'close' });
        res.on('finish', () => req.destroy());
        return;
      }
      reply(400, { error: `cannot read the request body: ${errorMessage(err)}` });
      return;
    }
    let submitted: Submitted;
    try {
      submitted = await submit(options.queue as BodySink<unknown>, body, cluster);
    } catch (err) {
      // The body thread failed (a body past its heap): nothing was stored; the apiserver may retry.
      log.error({ err: errorMessage(err) }, 'cannot prepare a webhook body');
      reply(503, { error: `cannot prepare the body: ${errorMessage(err)}` }, { 'Retry-After': '5' });
      return;
    }
    const { badBody, firstRejected } = submitted;
    try {
      const result = await submitted.result;
      options.metrics?.ingested(options.source ?? 'webhook', result);
      if (badBody !== null) {
        log.warn({ reason: badBody }, 'webhook body rejected and quarantined');
        reply(400, { error: badBody, quarantined: result.quarantined });
        return;
      }
      if (result.quarantined > 0) {
        log.warn({ quarantined: result.quarantined, first: firstRejected }, 'events quarantined');
      }
      if (result.conflicts > 0) log.warn({ conflicts: result.conflicts }, 'duplicates with different content kept in quarantine');
      reply(200, { accepted: result.accepted, duplicates: result.duplicates, quarantined: result.quarantined });
    } catch (err) {
      const message = err instanceof StoreUnavailableError ? err.message : `cannot store the batch: ${errorMessage(err)}`;
      reply(503, { error: message }, { 'Retry-After': '5' });
    }
  };
  router.post('/audit/webhook', handlerOf('webhook'));
  router.post('/audit/webhook/:cluster', handlerOf('webhook'));
  router.post('/audit/firehose', handlerOf('firehose'));
  router.post('/audit/firehose/:cluster', handlerOf('firehose'));
  return router;
}

/** The kube-apiserver's webhook, or an Amazon Data Firehose HTTP endpoint delivery. */
type Protocol = 'webhook' | 'firehose';
type Reply = (status: number, body: { error?: string } & Record<string, unknown>, headers?: Record<string, string>) => void;

/**
 * How an answer is written. Firehose reads only `{requestId, timestamp}` (and `errorMessage`
 * when the status is not 200), and delivers again what was not answered 200.
 */
function replier(protocol: Protocol, req: Request, res: Response, clock: () => number): Reply {
  return (status, body, headers = {}) => {
    res.status(status).set(headers);
    if (protocol === 'webhook') {
      res.json(body);
      return;
    }
    const requestId = req.headers['x-amz-firehose-request-id'];
    res.json({ requestId: typeof requestId === 'string' ? requestId : '', timestamp: clock(), ...(status === 200 ? {} : { errorMessage: body.error ?? `status ${status}` }) });
  };
}

function isOneOf(presented: string | string[] | undefined, tokens: readonly string[]): boolean {
  if (typeof presented !== 'string') return false;
  const given = Buffer.from(presented);
  return tokens.some((t) => {
    const b = Buffer.from(t);
    return b.length === given.length && timingSafeEqual(b, given);
  });
}

interface Submitted {
  result: Promise<WriteResult>;
  badBody: string | null;
  firstRejected: string | undefined;
}

/** Prepares a body on the body thread and commits what it made. */
async function submit<T>(sink: BodySink<T>, body: Buffer, cluster: string): Promise<Submitted> {
  const p = await sink.parser.prepare(body, cluster);
  let result: Promise<WriteResult>;
  try {
    result = sink.commit(p.prepared, cluster);
  } catch (err) {
    result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return { result, badBody: p.badBody, firstRejected: p.firstRejected };
}

/** Reads the whole body (gunzipping `Content-Encoding: gzip`), failing once it passes `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      reject(tooLarge(max));
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      reject(new Error(`unsupported Content-Encoding '${encoding}' (expected gzip or none)`));
      return;
    }
    const stream = encoding === 'gzip' ? req.pipe(createGunzip()) : req;
    // With its length declared, a plain body is read into one buffer of that size: a 30 MB body
    // costs 30 MB, not its chunks and then their concatenation too.
    const whole = encoding === 'identity' && Number.isFinite(declared) ? Buffer.allocUnsafe(declared) : null;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      if (size + chunk.length > max || (whole && size + chunk.length > whole.length)) {
        done = true;
        req.pause();
        reject(tooLarge(max));
        return;
      }
      if (whole) chunk.copy(whole, size);
      else chunks.push(chunk);
      size += chunk.length;
    });
    stream.on('end', () => {
      if (!done) resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks, size));
    });
    stream.on('error', (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
  });
}

function tooLarge(max: number): PayloadTooLargeError {
  return new PayloadTooLargeError(
    `request body is over the cap of ${max} bytes (webhook.maxBodyBytes); lower --audit-webhook-batch-max-size or raise the cap`,
  );
}

function hasValidToken(req: Request, tokens: readonly string[]): boolean {
  return isOneOf(/^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim(), tokens);
}
