import { csvCell } from '../../shared/csv.js';
import type { PastDecision, ReviewChange, ReviewSubject } from '../../shared/rbac/accessReview.js';

/** An access review as the reviewers read it: Markdown to sign, CSV for a spreadsheet, JSON for tools. */

export const REVIEW_FORMATS = ['markdown', 'csv', 'json'] as const;
export type ReviewFormat = (typeof REVIEW_FORMATS)[number];

export interface ReviewDocument {
  id: number;
  createdAt: string;
  createdBy: string;
  cluster: string;
  rbac: string;
  window: { since: string; until: string; days: number; coveredDays: number; sufficient: boolean; note?: string };
  idleDays: number;
  previous: { id: number; createdAt: string; decisions: PastDecision[] } | null;
  changes: ReviewChange[];
  subjects: ReviewSubject[];
}

const SCOPE = 'kubetrail sees Kubernetes API requests only: not application-level data access, node logins, MFA or identity-provider settings.';

const md = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const day = (iso: string | null) => (iso ? iso.slice(0, 10) : '—');

function lastDecision(doc: ReviewDocument, subject: string): PastDecision | undefined {
  return doc.previous?.decisions.filter((d) => d.subject === subject).at(-1);
}

function idleText(s: ReviewSubject): string {
  if (!s.idle) return '—';
  if (s.idle.status === 'stale-account') return `stale (${s.idle.days} d)`;
  if (s.idle.status === 'insufficient-history') return 'insufficient history';
  return 'active';
}

export function formatReview(doc: ReviewDocument, format: ReviewFormat): string {
  if (format === 'json') return `${JSON.stringify(doc, null, 2)}\n`;
  if (format === 'csv') return reviewCsv(doc);
  return reviewMarkdown(doc);
}

function reviewCsv(doc: ReviewDocument): string {
  const header = ['review', 'subject', 'kind', 'bindings', 'granted', 'used', 'unused', 'removable_bindings', 'dangerous', 'last_seen', 'idle', 'last_decision', 'changes_since_last_review', 'decision (keep/reduce/remove)', 'reviewer', 'date', 'note'];
  const rows = doc.subjects.map((s) => {
    const last = lastDecision(doc, s.subject);
    return [
      doc.id, s.subject, s.kind, s.bindings.join('; '), s.granted, s.used, s.unused, s.removableBindings.join('; '), s.dangerous, s.lastSeen ?? '', idleText(s),
      last ? `${last.decision} by ${last.reviewer} ${day(last.decidedAt)}` : '',
      doc.changes.filter((c) => c.subject === s.subject).map((c) => c.change).join('; '),
      '', '', '', '',
    ];
  });
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

function reviewMarkdown(doc: ReviewDocument): string {
  const w = doc.window;
  const out: string[] = [
    `# Access review #${doc.id}: cluster ${doc.cluster}`,
    '',
    `Exported ${doc.createdAt} by ${doc.createdBy}. RBAC reviewed: ${doc.rbac}.`,
    `Activity window: ${day(w.since)} to ${day(w.until)} (${w.days} days, ${w.coveredDays} with stored activity)${w.sufficient ? '.' : `: ${w.note ?? 'too short to call anything unused'}.`}`,
    '',
    `Serves PCI DSS **7.2.4** (every account and its privileges reviewed at least every six months, with management's acknowledgement), **7.2.5.1** (application and system accounts: the ServiceAccounts below) and **8.2.6** (accounts idle for ${doc.idleDays} days: the Idle column).`,
    `Scope: ${SCOPE}`,
    '',
    `Record each decision with \`kubetrail review record --review ${doc.id} --subject 'User alice' --decision keep|reduce|remove --reviewer NAME [--note TEXT]\`; \`kubetrail review show ${doc.id}\` prints them.`,
    '',
  ];
  if (doc.previous) {
    out.push(`## Changes since review #${doc.previous.id} (${day(doc.previous.createdAt)}, ${doc.previous.decisions.length} decisions)`, '');
    if (doc.changes.length === 0) out.push('No subject, binding or grant changed.', '');
    else out.push('| Subject | Change |', '|---|---|', ...doc.changes.map((c) => `| ${md(c.subject)} | ${md(c.change)} |`), '');
  } else {
    out.push('## Changes since the last review', '', 'This is the first review of this cluster in kubetrail.', '');
  }
  out.push(
    '## Summary',
    '',
    '| Subject | Granted | Used | Unused | Removable bindings | Dangerous | Last seen | Idle | Last decision | Decision | Reviewer | Date |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...doc.subjects.map((s) => {
      const last = lastDecision(doc, s.subject);
      return `| ${md(s.subject)} | ${s.granted} | ${s.used} | ${s.unused} | ${s.removableBindings.length} | ${s.dangerous} | ${day(s.lastSeen)} | ${idleText(s)} | ${last ? `${last.decision} (${md(last.reviewer)})` : '—'} | | | |`;
    }),
    '',
  );
  for (const s of doc.subjects) {
    out.push(`## ${md(s.subject)}`, '', `Bindings: ${s.bindings.map(md).join('; ') || 'none'}.`);
    if (s.removableBindings.length) out.push(`Removable (no observed request needs them): ${s.removableBindings.map(md).join('; ')}.`);
    out.push(`Last seen: ${s.lastSeen ?? 'not in the window'}; idle: ${idleText(s)}.`, '');
    if (s.permissions.length > 0) {
      out.push('| Permission | Through | Used | Requests | Last use | Danger |', '|---|---|---|---|---|---|');
      for (const p of s.permissions) out.push(`| \`${md(p.rule)}\` | ${md(p.binding)} → ${md(p.role)} | ${p.used ? 'yes' : '**no**'} | ${p.requests} | ${day(p.lastUse)} | ${md(p.danger.join('; ')) || '—'} |`);
      out.push('');
    }
    out.push('Decision: ☐ keep ☐ reduce ☐ remove · Reviewer: __________ · Date: __________ · Management sign-off: __________', '');
  }
  return out.join('\n');
}
