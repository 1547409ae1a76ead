import { parseEvent } from '../../shared/audit/parseEvent.js';
import { parsePayload } from '../../shared/audit/parsePayload.js';
import type { ParseOutcome } from '../../shared/audit/types.js';
import { jsonErrorReason } from '../../shared/audit/jsonError.js';

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
  const text = line.text;
  if (text.trim() === '') return { events: [], rejected: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const hint = text.trimStart().startsWith('20') && text.includes('AUDIT:') ? ' (legacy text format is not supported; use --audit-log-format=json)' : '';
    return { events: [], rejected: [{ position, reason: `not JSON: ${jsonErrorReason(err)}${hint}`, raw: text }] };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { kind?: unknown }).kind === 'Event') {
    const r = parseEvent(value, position);
    return 'event' in r ? { events: [r], rejected: [] } : { events: [], rejected: [r] };
  }
  const outcome = parsePayload(value, position);
  if ('notAudit' in outcome) return { events: [], rejected: [{ position, reason: outcome.notAudit, raw: text }] };
  return outcome;
}

/** Every line of a text held in memory, parsed as in parseLine (JSON lines judged line by line). */
export function parseLines(text: string, source: string): ParseOutcome {
  const outcome: ParseOutcome = { events: [], rejected: [] };
  text.split('\n').forEach((line, i) => {
    const one = parseLine({ text: line.endsWith('\r') ? line.slice(0, -1) : line, number: i + 1, end: 0 }, source);
    for (const e of one.events) outcome.events.push(e);
    for (const r of one.rejected) outcome.rejected.push(r);
  });
  return outcome;
}
