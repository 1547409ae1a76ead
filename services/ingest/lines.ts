import { parseEvent } from '../../shared/audit/parseEvent.js';
import { addOutcome, parsePayload } from '../../shared/audit/parsePayload.js';
import type { ParseOutcome } from '../../shared/audit/types.js';
import { jsonErrorReason } from '../../shared/audit/jsonError.js';
import { concatenatedJson, gzippedBase64 } from '../../shared/audit/cloud/delivered.js';

/** One complete line of a file, with its 1-based number and the byte offset just past it. */
export interface Line {
  text: string;
  number: number;
  end: number;
}

/**
 * Splits a byte stream into lines without holding more than one partial line: feed chunks in
 * order, get back the complete lines; `rest()` is the unfinished tail.
 */
export class LineSplitter {
  private tail: Buffer = Buffer.alloc(0);

  constructor(private offset = 0, private number = 0) {}

  /** The offset just past the last byte pushed. */
  get consumed(): number {
    return this.offset;
  }

  push(chunk: Buffer): Line[] {
    const buf = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    const base = this.offset - this.tail.length;
    const lines: Line[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      const stop = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      lines.push({ text: buf.toString('utf8', start, stop), number: ++this.number, end: base + nl + 1 });
      start = nl + 1;
    }
    this.tail = start < buf.length ? Buffer.from(buf.subarray(start)) : Buffer.alloc(0);
    this.offset += chunk.length;
    return lines;
  }

  /** The unfinished last line, if any (a file that does not end with a newline). */
  rest(): Line | null {
    if (this.tail.length === 0) return null;
    const line = { text: this.tail.toString('utf8'), number: ++this.number, end: this.offset };
    this.tail = Buffer.alloc(0);
    return line;
  }
}

/**
 * Parses one line of a JSON-lines audit log: an Event (the log backend's format), or an
 * EventList or array on one line. Blank lines give nothing.
 */
export function parseLine(line: Line, source: string): ParseOutcome {
  const position = `${source}:${line.number}`;
  // A storage-account export may begin with a UTF-8 byte order mark.
  const text = line.text.charCodeAt(0) === 0xfeff ? line.text.slice(1) : line.text;
  if (text.trim() === '') return { events: [], rejected: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // A CloudWatch Logs subscription payload as Kinesis or Firehose delivers it.
    const delivered = gzippedBase64(text) ?? concatenatedJson(text);
    if (delivered) return payloads(delivered, position, text);
    const hint = text.trimStart().startsWith('20') && text.includes('AUDIT:') ? ' (legacy text format is not supported; use --audit-log-format=json)' : '';
    return { events: [], rejected: [{ position, reason: `not JSON: ${jsonErrorReason(err)}${hint}`, raw: text }] };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { kind?: unknown }).kind === 'Event') {
    const r = parseEvent(value, position);
    return 'event' in r ? { events: [r], rejected: [] } : { events: [], rejected: [r] };
  }
  return payloads([value], position, text);
}

/** Documents read from one line, each judged alone. */
function payloads(values: unknown[], position: string, text: string): ParseOutcome {
  const outcome: ParseOutcome = { events: [], rejected: [] };
  values.forEach((value, i) => {
    const at = values.length > 1 ? `${position} document ${i}` : position;
    const one = parsePayload(value, at);
    if ('notAudit' in one) outcome.rejected.push({ position: at, reason: one.notAudit, raw: values.length > 1 ? JSON.stringify(value) : text });
    else addOutcome(outcome, one);
  });
  return outcome;
}

/** Every line of a text held in memory, parsed as in parseLine (JSON lines judged line by line). */
export function parseLines(text: string, source: string): ParseOutcome {
  const outcome: ParseOutcome = { events: [], rejected: [] };
  text.split('\n').forEach((line, i) => {
    addOutcome(outcome, parseLine({ text: line.endsWith('\r') ? line.slice(0, -1) : line, number: i + 1, end: 0 }, source));
  });
  return outcome;
}
