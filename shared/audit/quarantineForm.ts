import { createHash } from 'node:crypto';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from './jsonDepth.js';
import { LARGE_BODY_BYTES } from './largeBody.js';
import { REDACTED_PREFIX, redactUntrusted, type Redactor } from './redact.js';

/** What the quarantine keeps of one rejected input. */
export interface QuarantineForm {
  /** JSON redacted as a stored event's bodies are, or a masked excerpt of other bytes; cut at the cap. */
  kept: Buffer;
  /** Size and SHA-256 of the whole input as received: to match it with the sender's copy. */
  size: number;
  sha256: string;
}

/** Keys whose values a masked excerpt hides: a Secret's maps, tokens, env and patch values, the applied configuration. */
const SECRET_KEY = /"(data|stringData|token|value|password|last-applied-configuration|kubectl\.kubernetes\.io\/last-applied-configuration)"\s*:\s*/g;

/**
 * The form rejected input is kept in: never the secrets it may hold (a Secret event that failed
 * validation, a truncated body). Input that decodes as JSON is redacted like a stored event, and
 * more; anything else (not JSON, cut short, nesting too deep) is kept as an excerpt in which the
 * value after each secret-looking key is masked up to where it ends, or to the end.
 */
export function quarantineForm(raw: string | Uint8Array, redact: Redactor, maxBytes: number): QuarantineForm {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // Past LARGE_BODY_BYTES, only an excerpt: decoding it would cost what largeBody.ts avoids.
  const large = bytes.length > LARGE_BODY_BYTES;
  const text = bytes.toString('utf8', 0, large ? maxBytes : bytes.length);
  const safe = (!large && redactedJson(text, redact)) || maskedExcerpt(text, maxBytes);
  const kept = Buffer.from(safe, 'utf8');
  return { kept: kept.length > maxBytes ? kept.subarray(0, maxBytes) : kept, size: bytes.length, sha256 };
}

/** `text` decoded and redacted as untrusted input, if it is JSON that nests no deeper than an event may. */
function redactedJson(text: string, redact: Redactor): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return nestsDeeperThan(value, MAX_EVENT_DEPTH) ? null : JSON.stringify(redactUntrusted(value, redact));
}

/**
 * The first `maxBytes` of `text`, each value after a secret-looking key replaced by a mask.
 * Masking can join what follows into a new key (`{…}value":"…"` becomes `"…masked"value":"…"`:
 * found by fuzzing), so it runs again until nothing changes.
 */
export function maskedExcerpt(text: string, maxBytes: number): string {
  let out = maskOnce(text.length > maxBytes ? text.slice(0, maxBytes) : text);
  for (let i = 0; i < 8; i++) {
    const again = maskOnce(out);
    if (again === out) break;
    out = again;
  }
  return out;
}

function maskOnce(excerpt: string): string {
  let out = '';
  let from = 0;
  SECRET_KEY.lastIndex = 0;
  for (let m = SECRET_KEY.exec(excerpt); m; m = SECRET_KEY.exec(excerpt)) {
    const start = m.index + m[0].length;
    if (start < from) continue;
    const end = valueEnd(excerpt, start);
    out += `${excerpt.slice(from, start)}"${REDACTED_PREFIX}masked"`;
    from = end;
    // The closing quote of a value may open the next key in mangled input ("a"value":"b").
    SECRET_KEY.lastIndex = excerpt[end - 1] === '"' ? end - 1 : end;
  }
  // An exec's arguments may hold typed secrets: an excerpt keeps none of them.
  return (out + excerpt.slice(from)).replace(/([?&]command=)[^&"\s]*/g, `$1${REDACTED_PREFIX}masked`);
}

/** Where the JSON value starting at `i` ends: after its closing quote or bracket, at the next separator, or at the end of the text. */
function valueEnd(text: string, i: number): number {
  let depth = 0;
  let inString = false;
  for (let j = i; j < text.length; j++) {
    const c = text[j]!;
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return j + 1;
      }
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 0) return j;
      if (--depth === 0) return j + 1;
    } else if (depth === 0 && (c === ',' || c === '\n')) return j;
  }
  return text.length;
}
