import { parseAllDocuments } from 'yaml';
import type { Severity } from '../types.js';
import { isObj } from '../json.js';
import { compileDetection } from './sigmaMatch.js';

/**
 * A SigmaHQ-format rule (github.com/SigmaHQ/sigma-specification) read for the Kubernetes audit
 * log: `logsource.product: kubernetes`, `service: audit`. Kept as plain data, so that a thread
 * of its own (the webhook's body thread) can compile it again.
 */
export interface SigmaRule {
  /** The rule's `id` (a UUID in SigmaHQ), else its file name: the alert's rule is `sigma:<id>`. */
  id: string;
  title: string;
  level: string;
  severity: Severity;
  tags: string[];
  author: string | null;
  file: string;
  detection: Record<string, unknown>;
}

/** A rule file read: its rules, and for each, what will not work as written. */
export interface SigmaCheck {
  file: string;
  id: string | null;
  title: string | null;
  /** Unsupported or wrong parts; a rule with any is not evaluated. */
  problems: string[];
  rule: SigmaRule | null;
}

const LEVELS: Record<string, Severity> = { informational: 'low', low: 'low', medium: 'medium', high: 'high', critical: 'critical' };

/** Reads one rule file's text; never throws on bad input: the problems say what is wrong. */
export function readSigmaRule(text: string, file: string): SigmaCheck {
  const fail = (problem: string, id: string | null = null, title: string | null = null): SigmaCheck => ({ file, id, title, problems: [problem], rule: null });
  const docs = parseAllDocuments(text, { logLevel: 'silent' });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length !== 1) return fail(`${list.length} YAML documents: rule collections (action: global) are not supported; one rule per file`);
  const doc = list[0]!;
  if (doc.errors.length > 0) return fail(`not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  const r: unknown = doc.toJS();
  if (!isObj(r)) return fail('not a Sigma rule: expected a mapping with title, logsource and detection');
  const id = typeof r.id === 'string' ? r.id : null;
  const title = typeof r.title === 'string' ? r.title : null;
  const problems: string[] = [];
  if (!title) problems.push('title is missing');
  const source = isObj(r.logsource) ? r.logsource : {};
  if (source.product !== 'kubernetes' || source.service !== 'audit') {
    problems.push(`logsource is product '${String(source.product ?? '')}', service '${String(source.service ?? '')}': kubetrail reads product kubernetes, service audit`);
  }
  const level = typeof r.level === 'string' ? r.level.toLowerCase() : 'medium';
  if (!(level in LEVELS)) problems.push(`level '${String(r.level)}' is not one of ${Object.keys(LEVELS).join(', ')}`);
  const compiled = compileDetection(r.detection);
  problems.push(...compiled.problems);
  const rule: SigmaRule = {
    id: id ?? file.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/i, ''),
    title: title ?? '(untitled)',
    level,
    severity: LEVELS[level] ?? 'medium',
    tags: Array.isArray(r.tags) ? r.tags.filter((t): t is string => typeof t === 'string') : [],
    author: typeof r.author === 'string' ? r.author : null,
    file,
    detection: isObj(r.detection) ? r.detection : {},
  };
  return { file, id, title, problems, rule: problems.length === 0 ? rule : null };
}
