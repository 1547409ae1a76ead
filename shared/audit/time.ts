/**
 * Audit timestamps: RFC 3339 with up to 9 fractional digits in, microseconds since the epoch
 * inside kubetrail, MicroTime (`2026-07-23T14:47:51.123456Z`) out, as the apiserver writes it.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The last whole second parsed, as its text and epoch milliseconds: consecutive audit events
 * mostly share it, which spares the calendar arithmetic for all but one event per second.
 */
let lastSecond = '';
let lastSecondMs = 0;

/** Parses an RFC 3339 time to microseconds since the epoch, or null when it is not one. */
export function parseTime(text: string): number | null {
  if (isMicroTime(text)) {
    const second = text.slice(0, 19);
    if (second !== lastSecond) {
      const ms = parseGeneral(`${second}Z`);
      if (ms === null) return null;
      lastSecond = second;
      lastSecondMs = ms / 1000;
    }
    let micros = 0;
    for (let i = 20; i < 26; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return null;
      micros = micros * 10 + d;
    }
    return lastSecondMs * 1000 + micros;
  }
  return parseGeneral(text);
}

function parseGeneral(text: string): number | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = '', zone] = m as unknown as string[];
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  if (Number.isNaN(ms)) return null;
  const date = new Date(ms);
  if (date.getUTCDate() !== +d! || date.getUTCMonth() !== +mo! - 1 || +h! > 23 || +mi! > 59 || +s! > 59) return null;
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (+zone!.slice(1, 3) * 60 + +zone!.slice(4, 6));
  }
  const micros = frac === '' ? 0 : +frac.padEnd(6, '0').slice(0, 6);
  return (ms - offsetMinutes * 60_000) * 1000 + micros;
}

/** True when `text` is exactly what formatMicroTime would write for the same instant. */
export function isMicroTime(text: string): boolean {
  return (
    text.length === 27 &&
    text.charCodeAt(10) === 84 /* T */ &&
    text.charCodeAt(19) === 46 /* . */ &&
    text.charCodeAt(26) === 90 /* Z */
  );
}

/** Formats microseconds since the epoch as MicroTime, RFC 3339 UTC with 6 fractional digits. */
export function formatMicroTime(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const frac = String(micros - ms * 1000).padStart(3, '0');
  return new Date(ms).toISOString().slice(0, -1) + frac + 'Z';
}
