/**
 * Mutations of text inputs, from a seeded generator (so that a failing case can be replayed):
 * byte-level edits, and the structures that broke parsers before — deep nesting, lone
 * surrogates, `__proto__` keys, huge numbers, duplicated and truncated input.
 */
const TOKENS = [
  '\\ud800', '\\udfff', '\\u0000', '"__proto__"', '"constructor"', '1e309', '-0', '9007199254740993', '[]', '{}', 'null', '"', '\\', ',', ':',
  '"kubetrail:redacted:x"', '"kind":"Secret"', '"data":{"k":"v"}', '"op":"add","path":"/data/x","value":"v"', '~1', '"2026-02-30T00:00:00Z"',
];

export function mutate(seed: string, rand: () => number, others: readonly string[]): string {
  let s = seed;
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    switch (Math.floor(rand() * 9)) {
      case 0: s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8)); break;
      case 1: s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x10000)) + s.slice(at); break;
      case 2: s = s.slice(0, at) + TOKENS[Math.floor(rand() * TOKENS.length)] + s.slice(at); break;
      case 3: s = s.slice(0, at); break;
      case 4: { const d = 1 + Math.floor(rand() * 400); s = s.slice(0, at) + '['.repeat(d) + ']'.repeat(d) + s.slice(at); break; }
      case 5: { const o = others[Math.floor(rand() * others.length)] ?? ''; s = s.slice(0, at) + o.slice(Math.floor(rand() * o.length)) ; break; }
      case 6: { const from = Math.floor(rand() * s.length); s = s.slice(0, at) + s.slice(from, from + 1 + Math.floor(rand() * 40)) + s.slice(at); break; }
      case 7: s = s.replace(/"[a-zA-Z]+"/, TOKENS[Math.floor(rand() * 5)]!); break;
      default: s = s.slice(0, at) + String(Math.floor(rand() * 1e6) * (rand() < 0.5 ? -1 : 1)) + s.slice(at);
    }
  }
  return s;
}
