/**
 * Sigma's condition language, as the SigmaHQ rules use it: search identifiers, `and`, `or`,
 * `not`, parentheses, and `1 of` / `any of` / `all of` a pattern (`selection_*`) or `them`.
 * Aggregations after a pipe (`| count() by … > n`) are not supported and say so. Pure.
 */

export type Condition =
  | { kind: 'id'; name: string }
  | { kind: 'not'; of: Condition }
  | { kind: 'and' | 'or'; of: Condition[] }
  | { kind: 'quantified'; all: boolean; names: string[]; pattern: string };

export class ConditionError extends Error {}

const TOKEN = /\s*(\(|\)|[^\s()]+)/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (TOKEN.lastIndex < text.length && (m = TOKEN.exec(text))) tokens.push(m[1]!);
  if (text.slice(TOKEN.lastIndex).trim() !== '') throw new ConditionError(`cannot read '${text.slice(TOKEN.lastIndex)}'`);
  return tokens;
}

/** `selection_*` as a test of identifiers. */
function patternTest(pattern: string): (name: string) => boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return (name) => re.test(name);
}

/** Parses a condition over the rule's search identifiers; ConditionError saying what is wrong. */
export function parseCondition(text: string, identifiers: readonly string[]): Condition {
  if (text.includes('|')) throw new ConditionError(`aggregation after '|' is not supported ('${text.slice(text.indexOf('|')).trim()}')`);
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i]?.toLowerCase();
  const expect = (what: string) => {
    if (peek() !== what) throw new ConditionError(`expected '${what}' at ${tokens[i] === undefined ? 'the end' : `'${tokens[i]}'`}`);
    i++;
  };

  const primary = (): Condition => {
    const t = tokens[i];
    if (t === undefined) throw new ConditionError('the condition ends too early');
    if (t === '(') {
      i++;
      const inner = or();
      expect(')');
      return inner;
    }
    const lower = t.toLowerCase();
    if ((lower === '1' || lower === 'any' || lower === 'all') && tokens[i + 1]?.toLowerCase() === 'of') {
      const pattern = tokens[i + 2];
      if (pattern === undefined || pattern === '(' || pattern === ')') throw new ConditionError(`'${t} of' needs an identifier pattern or 'them'`);
      i += 3;
      // `them`: every identifier but those starting with an underscore (Sigma's convention).
      const names = pattern.toLowerCase() === 'them' ? identifiers.filter((n) => !n.startsWith('_')) : identifiers.filter(patternTest(pattern));
      if (names.length === 0) throw new ConditionError(`'${t} of ${pattern}' matches no search identifier`);
      return { kind: 'quantified', all: lower === 'all', names, pattern };
    }
    if (/^\d+$/.test(t) && tokens[i + 1]?.toLowerCase() === 'of') throw new ConditionError(`'${t} of' is not supported: only '1 of', 'any of' and 'all of'`);
    if (['and', 'or', 'not', ')'].includes(lower)) throw new ConditionError(`unexpected '${t}'`);
    if (!identifiers.includes(t)) throw new ConditionError(`'${t}' is not a search identifier of this rule`);
    i++;
    return { kind: 'id', name: t };
  };
  const not = (): Condition => {
    if (peek() === 'not') {
      i++;
      return { kind: 'not', of: not() };
    }
    return primary();
  };
  const chain = (op: 'and' | 'or', next: () => Condition) => (): Condition => {
    const of = [next()];
    while (peek() === op) {
      i++;
      of.push(next());
    }
    return of.length === 1 ? of[0]! : { kind: op, of };
  };
  const and = chain('and', not);
  const or = chain('or', and);

  const result = or();
  if (i < tokens.length) throw new ConditionError(`unexpected '${tokens[i]}'`);
  return result;
}
