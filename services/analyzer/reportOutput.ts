import { stringify as toYaml } from 'yaml';
import type { UsageReport } from '../../shared/rbac/usageReport.js';

/** The report's output formats: a plain-text summary for the terminal, markdown for a change review, data. */
export const REPORT_FORMATS = ['table', 'json', 'yaml', 'markdown'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

interface Removable {
  binding: string;
  role: string;
  via: string;
  used: boolean;
  bootstrap: boolean;
}

/** Each removable binding once, the ones the apiserver does not recreate first. */
function removableBindings(r: UsageReport): Removable[] {
  const seen = new Map<string, Removable>();
  for (const s of r.subjects) {
    for (const b of s.bindings) {
      if (b.removable !== true || seen.has(b.binding)) continue;
      seen.set(b.binding, { binding: b.binding, role: b.role, via: b.via, used: b.used, bootstrap: b.bootstrap });
    }
  }
  return [...seen.values()].sort((a, b) => Number(a.bootstrap) - Number(b.bootstrap) || Number(a.used) - Number(b.used) || (a.binding < b.binding ? -1 : 1));
}

function ratio(v: number | null): string {
  return v === null ? '-' : `${Math.round(v * 100)}%`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function header(r: UsageReport): string[] {
  const w = r.window;
  const t = r.totals;
  return [
    `cluster ${r.cluster}, RBAC of ${r.snapshot}`,
    `window ${w.since.slice(0, 10)} to ${w.until.slice(0, 10)}: ${w.days} days, ${w.coveredDays} with stored activity (minimum ${w.minDays})`,
    ...(w.note ? [`NOTE: ${w.note}`] : []),
    ...(w.blindSpots ?? []).map((b) => `BLIND SPOT: ${b} (kubetrail coverage)`),
    `${t.subjects} subjects (${t.active} active), ${t.bindings} bindings: ${t.unusedBindings} unused, ${t.removableBindings} removable; ${t.unusedDangerous} dangerous grants unused; ${t.drift} model drift`,
  ];
}

function subjectRows(r: UsageReport): string[][] {
  return [
    ['SUBJECT', 'KIND', 'ACTIVE', 'REQUESTS', 'DENIED', 'GRANTED', 'USED', 'UNUSED', 'RATIO', 'DANGEROUS-UNUSED', 'NOTE'],
    ...r.subjects.map((s) => [
      s.name, s.kind, s.active ? 'yes' : 'no', String(s.requests.total), String(s.requests.denied), String(s.granted), String(s.used),
      s.judged ? String(s.unused) : '-', ratio(s.usageRatio), s.judged ? String(s.unusedDangerous.length) : '-', s.note ?? '',
    ]),
  ];
}

function textReport(r: UsageReport): string {
  const out = [...header(r), ''];
  out.push(...table(subjectRows(r)), '');
  const dangerous = r.subjects.flatMap((s) => s.unusedDangerous.map((d) => ({ s, d })));
  if (dangerous.length > 0) {
    out.push('Dangerous permissions granted but unused, worst first:');
    for (const { s, d } of dangerous) out.push(`  ${s.kind} ${s.name}: ${d.rule} — ${d.binding} → ${d.role}`, `      ${d.danger.join('; ')}`);
    out.push('');
  }
  const removable = removableBindings(r);
  if (removable.length > 0) {
    out.push('Removable bindings (removing one denies no observed request; the others stay):');
    for (const b of removable) out.push(`  ${b.binding} → ${b.role} to ${b.via}${b.used ? ' (used, but others allow the same)' : ' (unused)'}${b.bootstrap ? ' [bootstrap: the apiserver recreates it]' : ''}`);
    out.push('');
  }
  if (r.neverSeen.length > 0) {
    out.push('Subjects never seen in the window:');
    for (const n of r.neverSeen) out.push(`  ${n.kind} ${n.name}: ${n.bindings.join(', ')}`);
    out.push('');
  }
  if (r.idleServiceAccounts.length > 0) out.push(`Service accounts with no activity (${r.idleServiceAccounts.length}): ${r.idleServiceAccounts.join(', ')}`, '');
  if (r.drift.length > 0) {
    out.push('Model drift (the recorded decision and the snapshot disagree: a missed RBAC change?):');
    for (const d of r.drift) out.push(`  ${d.recorded}`, `      snapshot: ${d.evaluated}; ${d.requests} distinct request(s), ${d.count} in all, e.g. ${d.example} (${d.samples[0] ?? '-'})`);
    out.push('');
  }
  if (r.outsideRbac.length > 0) {
    out.push('Allowed outside RBAC:');
    for (const o of r.outsideRbac) out.push(`  ${o.subject}: ${o.how} x${o.count}`);
  }
  return out.join('\n').trimEnd() + '\n';
}

const md = (s: string) => s.replace(/\|/g, '\\|');

function markdownReport(r: UsageReport): string {
  const out = ['# RBAC usage report', '', ...header(r).map((l) => `${l}  `), ''];
  const mdTable = (rows: string[][]) => [
    `| ${rows[0]!.map(md).join(' | ')} |`,
    `|${rows[0]!.map(() => ' --- ').join('|')}|`,
    ...rows.slice(1).map((row) => `| ${row.map(md).join(' | ')} |`),
  ];
  out.push('## Subjects', '', ...mdTable(subjectRows(r)), '');
  const dangerous = r.subjects.flatMap((s) => s.unusedDangerous.map((d) => ({ s, d })));
  out.push('## Dangerous permissions granted but unused', '');
  if (dangerous.length === 0) out.push(r.window.sufficient ? 'None.' : 'Not judged: the window is too short.');
  else out.push(...mdTable([['Subject', 'Rule', 'Binding', 'Role', 'Why'], ...dangerous.map(({ s, d }) => [`${s.kind} ${s.name}`, d.rule, d.binding, d.role, d.danger.join('; ')])]));
  out.push('', '## Removable bindings', '', 'Removing one denies no observed request, the other bindings staying in place.', '');
  const removable = removableBindings(r);
  if (removable.length === 0) out.push(r.window.sufficient ? 'None.' : 'Not judged: the window is too short.');
  else out.push(...mdTable([['Binding', 'Role', 'Subject', 'Used', 'Bootstrap'], ...removable.map((b) => [b.binding, b.role, b.via, b.used ? 'yes' : 'no', b.bootstrap ? 'yes' : 'no'])]));
  out.push('', '## Subjects never seen', '');
  out.push(...(r.neverSeen.length === 0 ? ['None.'] : r.neverSeen.map((n) => `- ${n.kind} ${md(n.name)}: ${md(n.bindings.join(', '))}`)));
  out.push('', '## Service accounts with no activity', '');
  out.push(...(r.idleServiceAccounts.length === 0 ? ['None.'] : r.idleServiceAccounts.map((s) => `- ${md(s)}`)));
  out.push('', '## Model drift', '');
  out.push(...(r.drift.length === 0 ? ['None: every recorded decision agrees with the snapshot.'] : mdTable([['Recorded reason', 'Snapshot', 'Requests', 'Count', 'Example'], ...r.drift.map((d) => [d.recorded, d.evaluated, String(d.requests), String(d.count), d.example])])));
  out.push('', '## Per subject', '');
  for (const s of r.subjects) {
    if (s.bindings.length === 0 && s.viaGroups.length === 0) continue;
    out.push(`### ${s.kind} ${md(s.name)}`, '', `${s.requests.total} requests (${s.requests.denied} denied), ${s.used} of ${s.granted} grants used${s.note ? `; ${s.note}` : ''}.`, '');
    for (const b of s.bindings) {
      out.push(`- ${md(b.binding)} → ${md(b.role)}: ${b.requests} requests${b.removable === true ? ', removable' : b.neededFor ? `, needed for ${md(b.neededFor)}` : ''}`);
      for (const rule of b.rules) out.push(`  - ${rule.used ? 'used' : 'UNUSED'}: ${md(rule.rule)}${rule.used ? ` (${rule.count}, last ${rule.lastSeen}, e.g. ${rule.samples[0] ?? '-'})` : ''}`);
    }
    for (const g of s.viaGroups) out.push(`- through ${md(g.via)}: ${md(g.binding)} → ${md(g.role)}: ${g.requests} requests`);
    out.push('');
  }
  return out.join('\n').trimEnd() + '\n';
}

export function formatReport(r: UsageReport, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
  if (format === 'yaml') return toYaml(r);
  if (format === 'markdown') return markdownReport(r);
  return textReport(r);
}
