import { MAX_EVENT_DEPTH } from './jsonDepth.js';
import { JsonScanError, OPEN_ARRAY, OPEN_OBJECT, arrayElements, objectMembers, skipSpace, type Member } from './jsonScan.js';
import { setOwn } from './ownProperty.js';

/**
 * Bodies too large to decode into objects. A 30 MB list response of 2.4 million keys takes
 * about 400 MB as objects, and its redacted copy more; as bytes it takes 30 MB. So a webhook
 * body over LARGE_BODY_BYTES is cut into its events by scanning (jsonScan.ts): each event's
 * fields are decoded, but a `requestObject` or `responseObject` over LARGE_BODY_BYTES stays
 * bytes (a LargeBody), which the store redacts and compresses as it streams over them
 * (redactStream.ts). Only list responses get that large through a real apiserver: request
 * bodies are capped at 3 MB there. Detections do not look into a LargeBody.
 */
export const LARGE_BODY_BYTES = 4 * 1024 * 1024;

/** More fields than any audit Event has (about 20): wider objects are refused, not listed. */
const MAX_FIELDS = 1000;

/**
 * A body kept as its JSON bytes. Its bytes are a private field: walks over an event (well-formed
 * strings, depth, detections) see an object with no fields.
 */
export class LargeBody {
  readonly #text: Buffer;

  constructor(text: Buffer) {
    this.#text = text;
  }

  /** The body's JSON text, as received: never stored or shown before redactLargeBody. */
  bytes(): Buffer {
    return this.#text;
  }

  /** How it shows where an event is written out whole (a quarantined event): its size, never its content. */
  toJSON(): string {
    return `[a body of ${this.#text.length} bytes, not kept]`;
  }
}

/** An item of a body that cannot become an event, with the reason; parseEvent quarantines it. */
export class UnreadableItem {
  constructor(readonly reason: string, readonly text: Buffer) {}
}

/**
 * A webhook body decoded as JSON.parse would, except that large bodies stay LargeBody and an item
 * that cannot be read is an UnreadableItem (the rest of the body is still read). Throws
 * JsonScanError when the body is not JSON, or is an object of more than MAX_FIELDS members.
 */
export function decodeWithLargeBodies(text: Buffer): unknown {
  const start = skipSpace(text, 0);
  let value: unknown;
  let end: number;
  if (text[start] === OPEN_ARRAY) {
    const list = arrayElements(text, start, Infinity);
    value = list.elements.map(([s, e]) => readItem(text, s, e));
    end = list.end;
  } else if (text[start] === OPEN_OBJECT) {
    const top = objectMembers(text, start, Infinity, MAX_FIELDS);
    end = top.end;
    const items = top.members.findLast((m) => m.key === 'items');
    if (items && text[items.start] === OPEN_ARRAY) {
      const list: Record<string, unknown> = {};
      for (const m of top.members) {
        setOwn(list, m.key, m === items ? arrayElements(text, m.start, Infinity).elements.map(([s, e]) => readItem(text, s, e)) : smallValue(text, m));
      }
      value = list;
    } else value = readItem(text, start, end);
  } else {
    return JSON.parse(text.toString('utf8'));
  }
  const rest = skipSpace(text, end);
  if (rest < text.length) throw new JsonScanError('Unexpected non-whitespace character after JSON', rest);
  return value;
}

/** One event of the body: decoded, with its large bodies kept as bytes; or why it cannot be read. */
function readItem(text: Buffer, start: number, end: number): unknown {
  const slice = text.subarray(start, end);
  if (end - start <= LARGE_BODY_BYTES) return JSON.parse(slice.toString('utf8'));
  if (text[start] !== OPEN_OBJECT) return new UnreadableItem(`an item of ${end - start} bytes that is not an object (an audit Event)`, slice);
  let members: Member[];
  try {
    ({ members } = objectMembers(text, start, MAX_EVENT_DEPTH, MAX_FIELDS));
  } catch (err) {
    return new UnreadableItem(`${(err as Error).message} (an audit Event nests at most ${MAX_EVENT_DEPTH} levels and has a few dozen fields)`, slice);
  }
  const event: Record<string, unknown> = {};
  for (const m of members) {
    const size = m.end - m.start;
    if (size <= LARGE_BODY_BYTES) setOwn(event, m.key, smallValue(text, m));
    else if ((m.key === 'requestObject' || m.key === 'responseObject') && text[m.start] === OPEN_OBJECT) setOwn(event, m.key, new LargeBody(text.subarray(m.start, m.end)));
    else return new UnreadableItem(`${m.key}: ${size} bytes; only a requestObject or responseObject object may be over ${LARGE_BODY_BYTES} bytes`, slice);
  }
  return event;
}

function smallValue(text: Buffer, m: Member): unknown {
  if (m.end - m.start > LARGE_BODY_BYTES) return new UnreadableItem(`${m.key}: ${m.end - m.start} bytes`, text.subarray(m.start, m.end));
  return JSON.parse(text.toString('utf8', m.start, m.end));
}
