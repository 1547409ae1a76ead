import { emptyUnwrapped, isRecord, parseCarried, type Unwrapped } from './unwrapped.js';

/**
 * Azure AKS: diagnostic-setting records (spec/k8s-audit.md §9.3), as an Event Hub or a storage
 * account delivers them: `{"records": [...]}`, or one record. Categories `kube-audit` and
 * `kube-audit-admin` (the same without get and list) carry one Event in `properties.log`, as
 * JSON text or as an object; other categories (guard, the controller manager's logs) and log
 * lines that are not JSON are not audit input: skipped and counted.
 */

const AUDIT_CATEGORIES = new Set(['kube-audit', 'kube-audit-admin']);

/** The cluster a resourceId names: `…/providers/Microsoft.ContainerService/managedClusters/<name>`. */
export function aksCluster(resourceId: unknown): string | undefined {
  return typeof resourceId === 'string' ? /\/MANAGEDCLUSTERS\/([^/]+)\/?$/i.exec(resourceId)?.[1] : undefined;
}

export function isAksRecord(v: Record<string, unknown>): boolean {
  return typeof v.category === 'string' && isRecord(v.properties) && (typeof v.resourceId === 'string' || typeof v.operationName === 'string');
}

export function isAksRecords(v: Record<string, unknown>): boolean {
  return Array.isArray(v.records) && v.kind === undefined;
}

function addRecord(out: Unwrapped, r: unknown, position: string): void {
  if (!isRecord(r) || !isAksRecord(r)) {
    out.rejected.push({ position, reason: 'AKS diagnostic record: expected {category, resourceId, properties: {log}}', raw: JSON.stringify(r) ?? '' });
    return;
  }
  if (!AUDIT_CATEGORIES.has(r.category as string)) {
    out.skipped++;
    return;
  }
  const cluster = aksCluster(r.resourceId);
  const log = (r.properties as Record<string, unknown>).log;
  if (isRecord(log)) {
    out.carried.push({ value: log, position, ...(cluster ? { cluster } : {}) });
    return;
  }
  const parsed = typeof log === 'string' ? parseCarried(log) : { reason: 'no log' };
  // The apiserver's container also writes lines that are not audit Events.
  if ('reason' in parsed) out.skipped++;
  else out.carried.push({ value: parsed.value, position, ...(cluster ? { cluster } : {}) });
}

export function unwrapAksRecords(v: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('AKS diagnostic records');
  (v.records as unknown[]).forEach((r, i) => addRecord(out, r, `${position} records ${i}`));
  return out;
}

export function unwrapAksRecord(v: Record<string, unknown>, position: string): Unwrapped {
  const out = emptyUnwrapped('AKS diagnostic record');
  addRecord(out, v, position);
  return out;
}
