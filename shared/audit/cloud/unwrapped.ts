import type { RejectedInput } from '../types.js';

/** An Event a provider's record carries, with where it was and the cluster the record names. */
export interface Carried {
  value: unknown;
  position: string;
  /** The cluster the provider's record names (EKS log group, GKE cluster_name, AKS resourceId). */
  cluster?: string;
}

/**
 * What a provider's record (or payload of records) holds: the Events it carries, what could not
 * be read as one (quarantined), and what is not audit input at all (another log type, a control
 * message: skipped and counted, never quarantined).
 */
export interface Unwrapped {
  format: string;
  carried: Carried[];
  rejected: RejectedInput[];
  skipped: number;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function emptyUnwrapped(format: string): Unwrapped {
  return { format, carried: [], rejected: [], skipped: 0 };
}

/** The JSON a provider carries as text: parsed, or the reason it is not JSON. */
export function parseCarried(text: string): { value: unknown } | { reason: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { reason: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
}

/** Adds what another record held. */
export function mergeUnwrapped(into: Unwrapped, more: Unwrapped): void {
  into.carried.push(...more.carried);
  into.rejected.push(...more.rejected);
  into.skipped += more.skipped;
}
