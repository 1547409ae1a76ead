import { Worker } from 'node:worker_threads';
import type { DetectorOptions } from '../../shared/detect/engine.js';
import type { RecordBatch } from '../../shared/storage/recordBatch.js';
import type { RelayMessages } from './relayMessages.js';

/** The body thread's heap: bodies over 4 MiB are scanned, not decoded whole (shared/audit/largeBody.ts). */
const BODY_HEAP_MB = 256;

/** What a body becomes: records for the store, or messages for the Kafka relay. */
export type BodyMode = 'store' | 'relay';
export type PreparedOf<M extends BodyMode> = M extends 'store' ? RecordBatch : RelayMessages;

export interface BodyThreadData {
  mode: BodyMode;
  redactionKey: Uint8Array;
  detector: DetectorOptions | null;
  /** Store users split from their tokens' own values (identity/userParts.ts): splitsTokens(identityMap). */
  splitTokens: boolean;
}

export interface BodyRequest {
  id: number;
  body: Uint8Array;
  cluster: string;
}

/** A prepared body, or why it was unusable (`badBody`: the whole body was quarantined). */
export interface PreparedBody<T> {
  prepared: T;
  badBody: string | null;
  firstRejected: string | undefined;
}

export type BodyResponse = ({ id: number } & PreparedBody<RecordBatch | RelayMessages>) | { id: number; error: string };

/**
 * Prepares webhook bodies on a thread of their own (bodyWorker.ts), one at a time, in the order
 * given: its detections keep their state (bursts) as on one thread. A thread that dies is
 * replaced, and what it held is refused with the reason.
 */
export class BodyParser<M extends BodyMode> {
  private worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: PreparedBody<PreparedOf<M>>) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(private readonly data: BodyThreadData & { mode: M }) {
    this.worker = this.start();
  }

  /** The body's records or messages; the body's bytes move to the other thread. */
  prepare(body: Buffer, cluster: string): Promise<PreparedBody<PreparedOf<M>>> {
    const id = this.nextId++;
    // Moved, not copied, when the body owns its memory (a large body read whole always does).
    const owns = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    const bytes = owns ? new Uint8Array(body.buffer, 0, body.byteLength) : new Uint8Array(body);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, body: bytes, cluster } satisfies BodyRequest, [bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./bodyWorker.js', import.meta.url), { workerData: this.data, resourceLimits: { maxOldGenerationSizeMb: BODY_HEAP_MB, maxYoungGenerationSizeMb: 16 } });
    worker.unref();
    worker.on('message', (m: BodyResponse) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if ('error' in m) w?.reject(new Error(m.error));
      // The thread's mode is this parser's: what it prepared is what M says.
      else w?.resolve(m as unknown as PreparedBody<PreparedOf<M>>);
    });
    worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the body thread failed: ${err.message}`));
      this.waiting.clear();
      this.worker = this.start();
    });
    return worker;
  }
}
