import { stringify as toYaml } from 'yaml';
import { proposalManifests, type Target } from '../rbac/recommend.js';
import { requestKey } from '../rbac/usageAnalysis.js';
import type { Recommendation, WindowOptions } from './usageWindow.js';

export function describeTarget(t: Target): string {
  return t.kind === 'ServiceAccount' ? `ServiceAccount ${t.namespace}/${t.name}` : `${t.kind} ${t.name}`;
}

/** A recommendation as YAML kubectl applies: objects, and everything else as `#` comments. */
export function recommendationText(r: Recommendation, window: WindowOptions, showDenied: boolean, blindSpots: readonly string[] = []): string {
  const c = (s: string) => `# ${s}`;
  const lines: string[] = [
    c(`kubetrail least-privilege recommendation for ${describeTarget(r.target)}`),
    c(`cluster ${window.cluster}, observed from ${new Date(window.since / 1000).toISOString().slice(0, 10)} to ${new Date(window.until / 1000).toISOString().slice(0, 10)}`),
    c(`covers ${r.covered.length} distinct allowed request(s); ${r.alreadyAllowed} more are allowed by bindings that stay (groups)`),
  ];
  for (const b of blindSpots) lines.push(c(`blind spot: ${b} (kubetrail coverage)`));
  if (r.note) lines.push(c(r.note));
  for (const b of r.removedBindings) lines.push(c(`remove ${b}: its only subject is ${describeTarget(r.target)}`));
  for (const b of r.editedBindings) lines.push(c(`remove ${describeTarget(r.target)} from the subjects of ${b} (it has other subjects)`));
  for (const u of r.unusedInCurrentRoles) lines.push(c(u));
  if (r.dryRun) {
    const d = r.dryRun;
    lines.push(c(`dry run: ${d.requests} observed allowed request(s) (${d.distinct} distinct) replayed against the RBAC without the bindings above, plus this proposal: ${d.regressionCount} would be denied`));
    for (const g of d.regressions) lines.push(c(`  WOULD BE DENIED (x${g.count}): ${g.attrs.user.name}: ${requestKey(g.attrs)}`));
  }
  if (r.unexplained > 0) lines.push(c(`${r.unexplained} covered request(s) were allowed although no binding of the snapshot allows them: model drift (a missed RBAC change?), see kubetrail rbac report`));
  const included = showDenied ? ' (included, --include-denied)' : ' (not included; --include-denied adds them)';
  if (r.denied.length > 0) {
    lines.push(c(`${r.denied.length} distinct request(s) were denied when made${included}:`));
    for (const d of r.denied) lines.push(c(`  denied (x${d.count}): ${requestKey(d.attrs)}`));
  }
  if (r.undecided.length > 0) {
    lines.push(c(`${r.undecided.length} distinct request(s) have no recorded or inferable decision (401, 429, no response)${included}:`));
    for (const d of r.undecided) lines.push(c(`  undecided (x${d.count}): ${requestKey(d.attrs)}`));
  }
  const manifests = proposalManifests(r.proposal);
  if (manifests.length === 0) lines.push(c('nothing to grant: no observed request needs a new permission'));
  // The comments open the first document: kubectl reads them as part of it.
  const docs = manifests.map((m) => toYaml(m, { lineWidth: 0 }).trimEnd());
  return `${lines.join('\n')}\n${docs.join('\n---\n')}${docs.length > 0 ? '\n' : ''}`;
}

