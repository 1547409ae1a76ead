/**
 * Reading a JSON-lines file fast and with flat memory, for the benchmark's own side: the
 * baseline's input and the webhook client's bodies. Lines are views into the read chunk (no
 * copy); they stay valid as long as they are referenced.
 */
import { createReadStream } from 'node:fs';

/** The non-empty lines of `path`, without their newline, a chunk's worth at a time. */
export async function* lineBatches(path: string, chunkBytes = 1 << 20): AsyncGenerator<Buffer[]> {
  let tail: Buffer | null = null;
  for await (const chunk of createReadStream(path, { highWaterMark: chunkBytes }) as AsyncIterable<Buffer>) {
    const buf: Buffer = tail ? Buffer.concat([tail, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      if (nl > start) lines.push(buf.subarray(start, nl));
      start = nl + 1;
    }
    tail = start < buf.length ? buf.subarray(start) : null;
    if (lines.length > 0) yield lines;
  }
  if (tail && tail.length > 0) yield [tail];
}

const LIST_HEAD = Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[');
const LIST_TAIL = Buffer.from(']}');
const COMMA = Buffer.from(',');

/** The file's events as webhook bodies: EventLists of `perBody` events (the last may hold fewer). */
export async function* eventListBodiesFromFile(path: string, perBody: number): AsyncGenerator<{ body: Buffer; events: number }> {
  let parts: Buffer[] = [LIST_HEAD];
  let events = 0;
  const finish = () => {
    parts.push(LIST_TAIL);
    const out = { body: Buffer.concat(parts), events };
    parts = [LIST_HEAD];
    events = 0;
    return out;
  };
  for await (const lines of lineBatches(path)) {
    for (const line of lines) {
      if (events > 0) parts.push(COMMA);
      parts.push(line);
      if (++events === perBody) yield finish();
    }
  }
  if (events > 0) yield finish();
}
