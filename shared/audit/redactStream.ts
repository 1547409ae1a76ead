import {
  BACKSLASH, CLOSE_ARRAY, CLOSE_OBJECT, COLON, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE, afterKey, keyName, skipSpace, stringEnd, valueEnd,
} from './jsonScan.js';
import { CONTAINER_LISTS, LAST_APPLIED, redactApplied, redactMember, redactSecretMap, type Redactor } from './redact.js';

/**
 * Redaction of a body too large to decode into objects (largeBody.ts), as it streams: the same
 * rules as redact.ts (Secrets by kind, the items of SecretLists and of lists about secrets,
 * TokenRequest tokens, container env values, the last-applied annotation), written as JSON
 * text in the form JSON.stringify gives (no whitespace, numbers and escapes canonical, strings
 * well formed). A Secret's `kind` may come after its `data`, so a first pass finds the objects
 * whose kind matters and a second writes.
 *
 * Where it differs from the decoded body's redaction (crafted input only): duplicate keys are
 * all kept, and redacted alike, where JSON.parse keeps the last; a secret value, Secret map or
 * last-applied annotation over MAX_DECODED_BYTES is redacted whole as its text, not decoded;
 * and a body whose redacted form would pass LargeBodyRedactionError's bound is refused.
 */
export function redactLargeBody(text: Buffer, redact: Redactor, isSecretRequest: boolean): Buffer {
  const kinds = objectKinds(text);
  const out = new Output(text.length, 4 * text.length + (1 << 20));
  const frames: Frame[] = [];
  let role: Role = 'top';
  let key = '';
  traverse(text, {
    enter(start) {
      const secretMap = role === 'secretMap' && text[start] === OPEN_OBJECT;
      if (role !== 'redact' && !secretMap && !(role === 'applied' && text[start] === QUOTE)) return undefined;
      const end = valueEnd(text, start, Infinity);
      if (end - start > MAX_DECODED_BYTES) {
        // Decoding it would cost what streaming avoids: hidden whole.
        out.text(JSON.stringify(redact(text.toString('utf8', start, end))));
        return end;
      }
      const value = decode(text, start, end);
      // As the decoded body's redaction: a Secret's map as a whole (its duplicate keys collapse),
      // a secret value after the redaction its key calls for, the annotation as redactApplied.
      if (secretMap) out.text(JSON.stringify(redactSecretMap(value as Record<string, unknown>, redact)));
      else if (role === 'redact') out.text(JSON.stringify(redact(redactMember(key, value, redact))));
      else out.text(JSON.stringify(redactApplied(value as string, redact)));
      return end;
    },
    open(start, array) {
      const kind = kinds.kindAt.get(start);
      const fits = role === 'top' ? !array : (array ? ARRAY_ROLES : OBJECT_ROLES).has(role);
      const own: Role = fits ? role : 'plain';
      const frame: Frame = {
        array,
        role: own,
        first: true,
        secret: !array && (kind === 'Secret' || own === 'secretItem' || (own === 'top' && isSecretRequest && !kinds.topHasKind)),
        secretList: !array && (kind === 'SecretList' || (own === 'top' && isSecretRequest)),
        tokenRequest: !array && kind === 'TokenRequest',
      };
      frames.push(frame);
      out.byte(array ? OPEN_ARRAY : OPEN_OBJECT);
      if (array) role = elementRole(frame);
    },
    key(name, start, end) {
      key = name;
      const frame = frames.at(-1)!;
      if (!frame.first) out.byte(COMMA);
      frame.first = false;
      writeString(out, text, start, end);
      out.byte(COLON);
      role = memberRole(frame, name);
    },
    scalar(start, end) {
      if (text[start] === QUOTE) writeString(out, text, start, end);
      else writeScalar(out, text, start, end);
    },
    close(array) {
      frames.pop();
      out.byte(array ? CLOSE_ARRAY : CLOSE_OBJECT);
      const parent = frames.at(-1);
      if (parent?.array) role = elementRole(parent);
    },
    before() {
      const frame = frames.at(-1)!;
      if (!frame.first) out.byte(COMMA);
      frame.first = false;
    },
  });
  return out.done();
}

/** Past this, a secret value, Secret map or annotation is not decoded (no real one comes near: a Secret is at most 1 MiB). */
const MAX_DECODED_BYTES = 1 << 20;

/** A body whose redacted form would be more than four times its size (a crafted one: markers of short values). */
export class LargeBodyRedactionError extends Error {
  override name = 'LargeBodyRedactionError';
}

/** What a value is to redaction, from its key and the container it is in. */
type Role =
  | 'top'
  | 'plain'
  | 'redact' // a secret value: replaced whole by its marker
  | 'applied' // the last-applied annotation
  | 'secretMap' // a Secret's data or stringData: written whole, each value redacted (enter)
  | 'secretItems' // the items of a SecretList, or of a list about secrets
  | 'secretItem'
  | 'tokenStatus' // a TokenRequest's status
  | 'containers' // containers, initContainers, ephemeralContainers
  | 'container'
  | 'env'
  | 'envVar';

interface Frame {
  array: boolean;
  role: Role;
  /** No member written yet (commas). */
  first: boolean;
  /** An object whose data and stringData are a Secret's. */
  secret: boolean;
  /** An object whose items are Secrets. */
  secretList: boolean;
  tokenRequest: boolean;
}

/** Roles that only an array can have, and those only an object can: anything else is plain. */
const ARRAY_ROLES = new Set<Role>(['containers', 'env', 'secretItems']);
const OBJECT_ROLES = new Set<Role>(['secretItem', 'tokenStatus', 'container', 'envVar']);

function memberRole(frame: Frame, key: string): Role {
  if (frame.secret && (key === 'data' || key === 'stringData')) return 'secretMap';
  if (frame.role === 'envVar' && key === 'value') return 'redact';
  if (frame.role === 'tokenStatus' && key === 'token') return 'redact';
  if (frame.tokenRequest && key === 'status') return 'tokenStatus';
  if (key === LAST_APPLIED) return 'applied';
  if (CONTAINER_LISTS.has(key)) return 'containers';
  if (frame.role === 'container' && key === 'env') return 'env';
  if (frame.secretList && key === 'items') return 'secretItems';
  return 'plain';
}

function elementRole(frame: Frame): Role {
  if (frame.role === 'containers') return 'container';
  if (frame.role === 'env') return 'envVar';
  if (frame.role === 'secretItems') return 'secretItem';
  return 'plain';
}

interface Visitor {
  /** At the start of a value: the end of it when the visitor wrote it itself, to skip it. */
  enter(start: number): number | undefined;
  /** Before each element of an array, at its start. */
  before(): void;
  open(start: number, array: boolean): void;
  key(name: string, start: number, end: number): void;
  scalar(start: number, end: number): void;
  close(array: boolean): void;
}

/** Visits the value at the start of `text` (already validated), without recursion. */
function traverse(text: Buffer, visitor: Visitor): void {
  const closers: number[] = [];
  let j = skipSpace(text, 0);
  for (;;) {
    // At the start of a value.
    const skipTo = visitor.enter(j);
    if (skipTo !== undefined) j = skipTo;
    else {
      const c = text[j]!;
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        visitor.open(j, c === OPEN_ARRAY);
        closers.push(c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY);
        j = skipSpace(text, j + 1);
        if (text[j] !== closers.at(-1)) {
          if (c === OPEN_OBJECT) j = member(j);
          else visitor.before();
          continue;
        }
        closers.pop();
        visitor.close(c === OPEN_ARRAY);
        j++;
      } else {
        const end = c === QUOTE ? stringEnd(text, j) : valueEnd(text, j, 0);
        visitor.scalar(j, end);
        j = end;
      }
    }
    // After a value.
    for (;;) {
      if (closers.length === 0) return;
      j = skipSpace(text, j);
      const d = text[j];
      if (d === closers.at(-1)) {
        closers.pop();
        visitor.close(d === CLOSE_ARRAY);
        j++;
        continue;
      }
      j = skipSpace(text, j + 1); // the comma
      if (closers.at(-1) === CLOSE_OBJECT) j = member(j);
      else visitor.before();
      break;
    }
  }

  function member(at: number): number {
    const end = stringEnd(text, at);
    visitor.key(keyName(text, at, end), at, end);
    return afterKey(text, at);
  }
}

/**
 * Pass one: the objects whose kind matters to redaction (Secret, SecretList, TokenRequest), by
 * where they start, and whether the body itself has a kind. As JSON.parse, the last `kind` wins.
 */
function objectKinds(text: Buffer): { kindAt: Map<number, string>; topHasKind: boolean } {
  const kindAt = new Map<number, string>();
  const objects: number[] = [];
  let topHasKind = false;
  let kindOf = -1;
  traverse(text, {
    enter: () => undefined,
    before() {},
    open(start, array) {
      objects.push(array ? -1 : start);
      kindOf = -1;
    },
    key(name) {
      const object = objects.at(-1)!;
      kindOf = name === 'kind' ? object : -1;
      if (kindOf !== -1) {
        kindAt.delete(object);
        if (objects.length === 1) topHasKind = true;
      }
    },
    scalar(start, end) {
      if (kindOf === -1 || text[start] !== QUOTE) return;
      const kind = decode(text, start, end) as string;
      if (kind === 'Secret' || kind === 'SecretList' || kind === 'TokenRequest') kindAt.set(kindOf, kind);
      kindOf = -1;
    },
    close() {
      objects.pop();
      kindOf = -1;
    },
  });
  return { kindAt, topHasKind };
}

/** The value between start and end, decoded, its strings well formed (as parseEvent makes them). */
function decode(text: Buffer, start: number, end: number): unknown {
  const value: unknown = JSON.parse(text.toString('utf8', start, end));
  return typeof value === 'string' ? value.toWellFormed() : value;
}

/** A string as JSON.stringify writes it: copied when it is plain printable ASCII. */
function writeString(out: Output, text: Buffer, start: number, end: number): void {
  for (let i = start + 1; i < end - 1; i++) {
    const c = text[i]!;
    if (c === BACKSLASH || c >= 0x80) {
      out.text(JSON.stringify((JSON.parse(text.toString('utf8', start, end)) as string).toWellFormed()));
      return;
    }
  }
  out.copy(text, start, end);
}

/** An integer JSON.stringify writes back as it came (no sign of zero, 15 digits at most). */
const PLAIN_INTEGER = /^(0|-?[1-9]\d{0,14})$/;

function writeScalar(out: Output, text: Buffer, start: number, end: number): void {
  const c = text[start];
  if (c === 0x74 || c === 0x66 || c === 0x6e) return out.copy(text, start, end); // true, false, null
  const number = text.toString('latin1', start, end);
  out.text(PLAIN_INTEGER.test(number) ? number : JSON.stringify(Number(number)));
}

/** A growing buffer of output bytes. */
class Output {
  private buf: Buffer;
  private length = 0;

  constructor(expected: number, private readonly limit: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, expected));
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  copy(from: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    this.length += from.copy(this.buf, this.length, start, end);
  }

  text(s: string): void {
    this.reserve(Buffer.byteLength(s));
    this.length += this.buf.write(s, this.length);
  }

  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    if (this.length + n > this.limit) throw new LargeBodyRedactionError(`the redacted body would pass ${this.limit} bytes (four times its own size and 1 MiB)`);
    const bigger = Buffer.allocUnsafe(Math.min(this.limit, Math.max(this.buf.length * 2, this.length + n)));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
}
