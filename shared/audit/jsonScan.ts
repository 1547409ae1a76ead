/**
 * A JSON scanner over bytes that finds where values end without decoding them: how a body too
 * large to decode into objects (largeBody.ts) is validated, cut into its events and redacted as
 * it streams. It accepts exactly what JSON.parse accepts (RFC 8259), and nothing nests deeper
 * than the limit given; iterative, so no input can overflow the stack.
 */
export class JsonScanError extends Error {
  constructor(message: string, readonly at: number) {
    super(`${message} at position ${at}`);
    this.name = 'JsonScanError';
  }
}

/** A value nesting deeper than allowed: valid JSON, refused for its depth. */
export class JsonDepthError extends JsonScanError {}

/** An object with more members than allowed: valid JSON, refused for its width. */
export class JsonWidthError extends JsonScanError {}

/** The bytes of JSON's structure. */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const OPEN_OBJECT = 0x7b;
export const CLOSE_OBJECT = 0x7d;
export const OPEN_ARRAY = 0x5b;
export const CLOSE_ARRAY = 0x5d;
export const COMMA = 0x2c;
export const COLON = 0x3a;

/** The first byte at or after `i` that is not JSON whitespace. */
export function skipSpace(text: Uint8Array, i: number): number {
  while (i < text.length) {
    const c = text[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Where the string starting at `i` (its opening quote) ends, after its closing quote. */
export function stringEnd(text: Uint8Array, i: number): number {
  if (text[i] !== QUOTE) throw unexpected(text, i);
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j]!;
    if (c === QUOTE) return j + 1;
    if (c < 0x20) throw new JsonScanError('Bad control character in string literal', j);
    if (c === BACKSLASH) {
      const e = text[++j];
      if (e === 0x75) {
        for (let k = 1; k <= 4; k++) if (!isHex(text[j + k])) throw new JsonScanError('Bad Unicode escape in JSON', j + k);
        j += 4;
      } else if (e === undefined || !ESCAPES.has(e)) throw new JsonScanError('Bad escaped character in JSON', j);
    }
  }
  throw new JsonScanError('Unterminated string in JSON', text.length);
}

/** `"`, `\`, `/`, b, f, n, r, t: the one-character escapes. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Where the scalar (number, true, false, null) starting at `i` ends. */
function scalarEnd(text: Uint8Array, i: number): number {
  const c = text[i];
  for (const bytes of LITERALS) {
    if (c === bytes[0]) {
      for (let k = 1; k < bytes.length; k++) if (text[i + k] !== bytes[k]) throw unexpected(text, i + k);
      return i + bytes.length;
    }
  }
  let j = i;
  if (text[j] === 0x2d) j++;
  if (text[j] === 0x30) j++;
  else if (isDigit(text[j])) while (isDigit(text[j])) j++;
  else throw unexpected(text, j);
  if (text[j] === 0x2e) {
    if (!isDigit(text[++j])) throw unexpected(text, j);
    while (isDigit(text[j])) j++;
  }
  if (text[j] === 0x65 || text[j] === 0x45) {
    j++;
    if (text[j] === 0x2b || text[j] === 0x2d) j++;
    if (!isDigit(text[j])) throw unexpected(text, j);
    while (isDigit(text[j])) j++;
  }
  return j;
}

const LITERALS = ['true', 'false', 'null'].map((w) => Buffer.from(w));

/**
 * Where the value starting at `i` (no whitespace before it) ends. Arrays and objects may nest
 * `maxDepth` levels (a scalar is 0); deeper throws JsonDepthError.
 */
export function valueEnd(text: Uint8Array, i: number, maxDepth: number): number {
  const c = text[i];
  if (c === QUOTE) return stringEnd(text, i);
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) return scalarEnd(text, i);
  // The open containers, as their closing bytes.
  const open: number[] = [];
  let j = i;
  for (;;) {
    // At the start of a value.
    const v = text[j];
    if (v === OPEN_OBJECT || v === OPEN_ARRAY) {
      if (open.length >= maxDepth) throw new JsonDepthError(`nests deeper than ${maxDepth} levels`, j);
      open.push(v === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY);
      j = skipSpace(text, j + 1);
      if (text[j] === open.at(-1)) {
        open.pop();
        j++;
      } else {
        if (v === OPEN_OBJECT) j = afterKey(text, j);
        continue;
      }
    } else {
      j = v === QUOTE ? stringEnd(text, j) : scalarEnd(text, j);
    }
    // After a value: close what ends here, or go on to the next member or element.
    for (;;) {
      if (open.length === 0) return j;
      j = skipSpace(text, j);
      const d = text[j];
      if (d === open.at(-1)) {
        open.pop();
        j++;
        continue;
      }
      if (d !== COMMA) throw unexpected(text, j);
      j = skipSpace(text, j + 1);
      if (open.at(-1) === CLOSE_OBJECT) j = afterKey(text, j);
      break;
    }
  }
}

/** From a member's key at `i`: where its value starts. */
export function afterKey(text: Uint8Array, i: number): number {
  const j = skipSpace(text, stringEnd(text, i));
  if (text[j] !== COLON) throw unexpected(text, j);
  return skipSpace(text, j + 1);
}

/** The string between `start` and `end` (its quotes) as JSON.parse gives it; without escapes, read straight from the bytes. */
export function keyName(text: Uint8Array, start: number, end: number): string {
  const bytes = Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  for (let i = start + 1; i < end - 1; i++) {
    if (bytes[i] === BACKSLASH) return JSON.parse(bytes.toString('utf8', start, end)) as string;
  }
  return bytes.toString('utf8', start + 1, end - 1);
}

/** One member of an object: its key (decoded) and where its value starts and ends. */
export interface Member {
  key: string;
  start: number;
  end: number;
}

/**
 * The members of the object starting at `i`, in order, and where the object ends. Each value
 * may nest `maxDepth - 1` levels. More than `maxMembers` members throw: the caller decides what
 * an object that wide means.
 */
export function objectMembers(text: Uint8Array, i: number, maxDepth: number, maxMembers = Infinity): { members: Member[]; end: number } {
  if (text[i] !== OPEN_OBJECT) throw unexpected(text, i);
  if (maxDepth < 1) throw new JsonDepthError(`nests deeper than ${maxDepth} levels`, i);
  const members: Member[] = [];
  let j = skipSpace(text, i + 1);
  if (text[j] === CLOSE_OBJECT) return { members, end: j + 1 };
  for (;;) {
    const key = keyName(text, j, stringEnd(text, j));
    const start = afterKey(text, j);
    const end = valueEnd(text, start, maxDepth - 1);
    if (members.length >= maxMembers) throw new JsonWidthError(`more than ${maxMembers} members in one object`, j);
    members.push({ key, start, end });
    j = skipSpace(text, end);
    if (text[j] === CLOSE_OBJECT) return { members, end: j + 1 };
    if (text[j] !== COMMA) throw unexpected(text, j);
    j = skipSpace(text, j + 1);
  }
}

/** The elements of the array starting at `i`, as [start, end) pairs, and where the array ends. */
export function arrayElements(text: Uint8Array, i: number, maxDepth: number): { elements: [number, number][]; end: number } {
  if (text[i] !== OPEN_ARRAY) throw unexpected(text, i);
  if (maxDepth < 1) throw new JsonDepthError(`nests deeper than ${maxDepth} levels`, i);
  const elements: [number, number][] = [];
  let j = skipSpace(text, i + 1);
  if (text[j] === CLOSE_ARRAY) return { elements, end: j + 1 };
  for (;;) {
    const end = valueEnd(text, j, maxDepth - 1);
    elements.push([j, end]);
    j = skipSpace(text, end);
    if (text[j] === CLOSE_ARRAY) return { elements, end: j + 1 };
    if (text[j] !== COMMA) throw unexpected(text, j);
    j = skipSpace(text, j + 1);
  }
}

function unexpected(text: Uint8Array, i: number): JsonScanError {
  if (i >= text.length) return new JsonScanError('Unexpected end of JSON input', i);
  const c = text[i]!;
  return new JsonScanError(`Unexpected ${c >= 0x21 && c <= 0x7e ? `token '${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`}`, i);
}
