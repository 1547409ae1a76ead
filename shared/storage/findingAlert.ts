import { ruleById } from '../detect/engine.js';
import { isSigmaRule, type AlertRuleId, type FindingRuleId, type Severity } from '../detect/types.js';

/**
 * What a detection's finding becomes in the alerts table, whatever the engine: the rule it is
 * raised under, its message, its person and the key it is throttled by. The stores look up
 * what it needs (the person of the principal, the break-glass checkout covering the request,
 * the change a controller carried out) and write the answer.
 */

/** A finding as it crosses to the writer, with the index of its event in the batch. */
export type FindingRow = [
  index: number,
  rule: FindingRuleId,
  severity: Severity,
  key: string,
  message: string,
  actor: string,
  effectiveUser: string,
  identity: string,
  owner: string | null,
];

/** The auditIDs kept per alert; the count goes on beyond them. */
export const MAX_ALERT_EVENTS = 1000;

export const BREAK_GLASS_PCI: Record<'attributed-break-glass' | 'unattributed-break-glass', string[]> = {
  'attributed-break-glass': ['8.2.2', '10.2.1.2', '8.2.7', '10.4.1'],
  'unattributed-break-glass': ['8.2.2', '8.2.1', '10.2.2', '8.6.1', '10.4.3'],
};

/** A community rule's alert serves the automated review of the logs (spec/pci.md, "all alerts"). */
const SIGMA_PCI = ['10.4.1', '10.4.1.1'];

/** A break-glass checkout covering the request. */
export interface CoveringCheckout {
  id: number;
  person: string;
  approvedBy: string;
  ticket: string;
}

/** The person's change a controller's action carried out (queries/workloadCause.ts). */
export interface FindingCause {
  username: string;
  person: string | null;
  verb: string;
  object: string;
  auditID: string;
}

export interface AlertOfFinding {
  rule: AlertRuleId;
  severity: Severity;
  /** What the alert is throttled by, with the rule and the cluster. */
  dedupeKey: string;
  message: string;
  person: string | null;
  pci: readonly string[];
  checkoutId: number | null;
}

/**
 * The alert a finding joins or opens. A break-glass use is attributed to the checkout covering
 * it, or raised as unattributed; a controller's action names the person whose change it
 * carried out; two people's use of one shared account are two alerts.
 */
export function alertOfFinding(f: FindingRow, found: { person: string | null; checkout: CoveringCheckout | null; cause: FindingCause | null }): AlertOfFinding {
  const [, ruleId, severity, key, message] = f;
  const checkout = ruleId === 'break-glass-use' ? found.checkout : null;
  let person = found.person;
  let rule: AlertRuleId;
  let text = message;
  let sev = severity;
  let pci: readonly string[];
  if (ruleId === 'break-glass-use') {
    rule = checkout ? 'attributed-break-glass' : 'unattributed-break-glass';
    pci = BREAK_GLASS_PCI[rule];
    if (checkout) {
      person = checkout.person;
      text = `${message} — checkout #${checkout.id} by ${checkout.person}, approved by ${checkout.approvedBy}, ticket ${checkout.ticket}`;
      sev = 'medium';
    } else text = `${message} — outside any break-glass checkout`;
  } else if (isSigmaRule(ruleId)) {
    rule = ruleId;
    pci = SIGMA_PCI;
  } else {
    rule = ruleId;
    pci = ruleById(ruleId).pci;
  }
  const cause = found.cause;
  if (cause) {
    text = `${text} — caused by ${cause.username}${cause.person ? ` (${cause.person})` : ''}: ${cause.verb} ${cause.object} (auditID ${cause.auditID})`;
    person ??= cause.person;
  }
  const dedupeKey = checkout ? `${key} checkout ${checkout.id}` : person ? `${key} person ${person}` : key;
  return { rule, severity: sev, dedupeKey, message: text, person, pci, checkoutId: checkout?.id ?? null };
}

/** The distinct identity values of an alert's requests, where they differ (alerts.identity_values). */
export interface IdentityValues {
  actor?: string[];
  effectiveUser?: string[];
  person?: (string | null)[];
  /** Fields with more distinct values than MAX_IDENTITY_VALUES. */
  more?: ('actor' | 'effectiveUser' | 'person')[];
}

export const MAX_IDENTITY_VALUES = 10;

/** An open alert as far as a request joining it changes it. */
export interface OpenAlert {
  id: number;
  count: number;
  actor: string;
  effective_user: string;
  person: string | null;
  identity_values: string | null;
}

/** alerts.identity_values once a request with these identity values joins `open` (unchanged JSON when they are known). */
export function withIdentity(open: OpenAlert, next: { actor: string; effectiveUser: string; person: string | null }): string | null {
  const values = (open.identity_values ? JSON.parse(open.identity_values) : {}) as IdentityValues;
  const own = { actor: open.actor, effectiveUser: open.effective_user, person: open.person };
  let changed = false;
  for (const field of ['actor', 'effectiveUser', 'person'] as const) {
    const list: (string | null)[] = values[field] ?? [own[field]];
    if (list.includes(next[field])) continue;
    if (list.length < MAX_IDENTITY_VALUES) {
      list.push(next[field]);
      (values as Record<string, unknown>)[field] = list;
    } else if (!values.more?.includes(field)) (values.more ??= []).push(field);
    else continue;
    changed = true;
  }
  return changed ? JSON.stringify(values) : open.identity_values;
}
