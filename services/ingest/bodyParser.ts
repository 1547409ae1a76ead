import { Worker } from 'node:worker_threads';
import type { DetectorOptions } from '../../shared/detect/engine.js';
import type { RecordBatch } from '../../shared/storage/eventRows.js';

/** The body thread's heap: bounds what the hardest body can cost (30 MB of 2.4 million keys fits). */
const BODY_HEAP_MB = 256;

export interface BodyRequest {
  id: number;
  body: Uint8Array;
  cluster: string;
}

/** A prepared body: its records, or why it was unusable. */
export type BodyResponse = { id: number; records: RecordBatch; badBody: string | null; firstRejected: string | undefined } | { id: number; error: string };
export type PreparedBody = Extract<BodyResponse, { records: RecordBatch }>;

/**
 * Prepares webhook bodies on a thread of their own (bodyWorker.ts), one at a time, in the order
 * given: its detections keep their state (bursts) as on one thread. A thread that dies is
 * replaced, and what it held is refused with the reason.
 */
export class BodyParser {
  private worker: Worker;
  private readonly waiting = new Map<number, { resolve: (r: PreparedBody) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(private readonly data: { redactionKey: Uint8Array; detector: DetectorOptions | null }) {
    this.worker = this.start();
  }

  /** The body's records; the body's bytes move to the other thread. */
  prepare(body: Buffer, cluster: string): Promise<PreparedBody> {
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
      else w?.resolve(m);
    });
    worker.on('error', (err) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the body thread failed: ${err.message}`));
      this.waiting.clear();
      this.worker = this.start();
    });
    return worker;
  }
}
