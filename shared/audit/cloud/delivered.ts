import { gunzipSync } from 'node:zlib';

/**
 * Text as Kinesis, Firehose and their S3 objects deliver CloudWatch Logs subscription payloads:
 * base64 of gzip (a Kinesis record's data), or JSON objects written one after another with
 * nothing between them (a Firehose S3 object, once gunzipped). Read only where the text is not
 * JSON by itself.
 */

/** A payload decompresses to at most this (a gzip bomb is refused, not expanded). */
const MAX_INFLATED = 64 * 1024 * 1024;

/** The JSON values one after another in `text` (`{…}{…}`), or null when it is not that. */
export function concatenatedJson(text: string): unknown[] | null {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if (c === '}' || c === ']') {
      if (--depth < 0) return null;
      if (depth === 0) {
        try {
          values.push(JSON.parse(text.slice(start, i + 1)));
        } catch {
          return null;
        }
      }
    } else if (depth === 0 && !/\s/.test(c!)) return null;
  }
  return depth === 0 && values.length > 1 ? values : null;
}

/** The payloads base64 of gzip holds, or null when `text` is not that. */
export function gzippedBase64(text: string): unknown[] | null {
  const t = text.trim();
  if (t.length < 16 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return null;
  const bytes = Buffer.from(t, 'base64');
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return null;
  let inflated: string;
  try {
    inflated = gunzipSync(bytes, { maxOutputLength: MAX_INFLATED }).toString('utf8');
  } catch {
    return null;
  }
  try {
    return [JSON.parse(inflated) as unknown];
  } catch {
    return concatenatedJson(inflated);
  }
}
