import type { AccountActivity } from './staleAccounts.js';
import type { UsageReport } from './usageReport.js';

/**
 * The six-monthly access review (PCI DSS 7.2.4, 7.2.5.1, 8.2.6): per subject what it is
 * granted, what of it was used and when last, what can go, what is dangerous, how long it has
 * been idle; the decision of the last review and what changed since. Pure: built from a usage
 * report and the idle accounts.
 */

export const DECISIONS = ['keep', 'reduce', 'remove'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface ReviewPermission {
  rule: string;
  binding: string;
  role: string;
  used: boolean;
  /** Requests it allowed in the window, and the last one (ISO), or null. */
  requests: number;
  lastUse: string | null;
  danger: string[];
}

export interface ReviewSubject {
  /** `User alice`, `ServiceAccount system:serviceaccount:ns:name`, `Group dev`: what `review record --subject` takes. */
  subject: string;
  kind: 'User' | 'ServiceAccount' | 'Group';
  name: string;
  bindings: string[];
  permissions: ReviewPermission[];
  granted: number;
  used: number;
  /** Rules granted but not used in the window (only claimed when the window covers enough days). */
  unused: number;
  removableBindings: string[];
  dangerous: number;
  lastSeen: string | null;
  /** Users and service accounts: active, stale-account or insufficient-history (idle.days). */
  idle: { status: string; days: number | null } | null;
}

export interface ReviewChange {
  subject: string;
  change: string;
}

export interface PastDecision {
  subject: string;
  decision: Decision;
  reviewer: string;
  note: string | null;
  decidedAt: string;
}

export interface ReviewPack {
  subjects: ReviewSubject[];
  /** Against the previous review: subjects and bindings added or gone, grants grown or shrunk. */
  changes: ReviewChange[];
}

export function buildReview(report: UsageReport, accounts: AccountActivity[], previous: ReviewSubject[] | null): ReviewPack {
  const idle = new Map(accounts.map((a) => [a.name, a]));
  const subjects = report.subjects
    .map((s): ReviewSubject => {
      const permissions = s.bindings.flatMap((b) =>
        b.rules.map((r) => ({ rule: r.resourceName ? `${r.rule} (${r.resourceName})` : r.rule, binding: b.binding, role: b.role, used: r.used, requests: r.count, lastUse: r.lastSeen, danger: r.danger })),
      );
      const a = s.kind === 'Group' ? undefined : idle.get(s.name);
      return {
        subject: `${s.kind} ${s.name}`,
        kind: s.kind,
        name: s.name,
        bindings: [...new Set(s.bindings.map((b) => `${b.binding} → ${b.role}`))],
        permissions,
        granted: s.granted,
        used: s.used,
        unused: s.judged ? s.unused : 0,
        removableBindings: [...new Set(s.bindings.filter((b) => b.removable === true).map((b) => b.binding))],
        dangerous: permissions.filter((p) => p.danger.length > 0).length,
        lastSeen: s.lastSeen,
        idle: s.kind === 'Group' ? null : { status: a?.status ?? 'active', days: a?.idleDays ?? null },
      };
    })
    .sort((x, y) => y.dangerous - x.dangerous || y.unused - x.unused || x.subject.localeCompare(y.subject));
  return { subjects, changes: previous ? changesSince(previous, subjects) : [] };
}

export function changesSince(before: ReviewSubject[], now: ReviewSubject[]): ReviewChange[] {
  const old = new Map(before.map((s) => [s.subject, s]));
  const changes: ReviewChange[] = [];
  for (const s of now) {
    const o = old.get(s.subject);
    old.delete(s.subject);
    if (!o) {
      changes.push({ subject: s.subject, change: `new since the last review: ${s.bindings.join('; ') || 'no bindings'}` });
      continue;
    }
    for (const b of s.bindings) if (!o.bindings.includes(b)) changes.push({ subject: s.subject, change: `binding added: ${b}` });
    for (const b of o.bindings) if (!s.bindings.includes(b)) changes.push({ subject: s.subject, change: `binding removed: ${b}` });
    if (s.granted !== o.granted) changes.push({ subject: s.subject, change: `permissions granted: ${o.granted} → ${s.granted}` });
  }
  for (const o of old.values()) changes.push({ subject: o.subject, change: 'gone since the last review (no binding names it)' });
  return changes;
}

/** The subject a reviewer names: `Kind name`, or a bare name when only one subject has it. */
export function findSubject(subjects: ReviewSubject[], given: string): ReviewSubject | { problem: string } {
  const exact = subjects.find((s) => s.subject === given);
  if (exact) return exact;
  const byName = subjects.filter((s) => s.name === given);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) return { problem: `'${given}' is ${byName.map((s) => `'${s.subject}'`).join(' and ')}: name one` };
  return { problem: `no subject '${given}' in the review; kubetrail review export lists them (as 'User alice', 'Group dev')` };
}
