/**
 * Recognizes the managed-cloud wrappers of spec/k8s-audit.md §9, so that such input is
 * quarantined with a reason that names its format until kubetrail reads them.
 */

/** The name of the cloud wrapper `value` looks like, or null. */
export function detectCloudFormat(value: Record<string, unknown>): string | null {
  const props = value.properties as Record<string, unknown> | undefined;
  if (typeof value.category === 'string' && value.category.startsWith('kube-audit') && props && 'log' in props) {
    return `AKS diagnostic record (category ${value.category})`;
  }
  if (Array.isArray(value.records)) return 'AKS diagnostic records (Event Hubs / Storage export)';
  const proto = value.protoPayload as Record<string, unknown> | undefined;
  if (proto && typeof proto === 'object') {
    return proto.serviceName === 'k8s.io' ? 'GKE Cloud Audit Log entry (serviceName k8s.io)' : 'Google Cloud Audit Log entry';
  }
  if (value.messageType === 'DATA_MESSAGE' || value.messageType === 'CONTROL_MESSAGE' || Array.isArray(value.logEvents)) {
    return 'EKS CloudWatch Logs subscription payload';
  }
  if (typeof value.message === 'string' && typeof value.logStreamName === 'string') return 'EKS CloudWatch Logs export';
  return null;
}
