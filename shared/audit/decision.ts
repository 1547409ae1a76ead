import type { AuditEvent } from './types.js';

/** Where an event's authorization decision came from. */
export type DecisionSource = 'annotation' | 'inferred';

/** The authorizer's decision on one request: from its annotation, inferred from the response, or unknown. */
export type AuthorizationDecision =
  | { decision: 'allow' | 'forbid'; source: DecisionSource }
  | { decision: 'unknown'; source: null };

const DECISION_KEY = 'authorization.k8s.io/decision';
const REASON_KEY = 'authorization.k8s.io/reason';
const UNKNOWN: AuthorizationDecision = { decision: 'unknown', source: null };
const INFERRED_ALLOW: AuthorizationDecision = { decision: 'allow', source: 'inferred' };
const INFERRED_FORBID: AuthorizationDecision = { decision: 'forbid', source: 'inferred' };

/**
 * The authorizer's denial as the apiserver words it (responsewriters.forbiddenMessage): `User
 * "bob" cannot list resource "pods" …`, `… cannot get path "/healthz"`, the impersonation
 * filter's `… cannot impersonate resource "users" …`, and before 1.11 `… cannot list pods in
 * the namespace "x"`. Admission and storage refusals never say "User … cannot".
 */
const AUTHORIZER_DENIAL = /\bUser "(?:[^"\\]|\\.)*" cannot [a-z*]+\b/;

/** A 429 written by a handler after authorization: an eviction that a PodDisruptionBudget blocks. */
const HANDLER_TOO_MANY = /disruption budget/i;

/**
 * The decision of the authorizer on the request of `e`. The `authorization.k8s.io/decision`
 * annotation when the event has it; else, for apiservers before 1.11 and exports that drop
 * annotations, inferred from the response along the apiserver's handler order
 * (authentication → impersonation → priority and fairness → authorization → admission →
 * storage):
 * - 401 (authentication) and 429 (priority and fairness) never reached the authorizer;
 * - a 403 whose message is the authorizer's denial ("User … cannot VERB …", impersonation
 *   included) is a denial;
 * - any other response (admission's 403s, quota, webhooks, storage errors, success) came
 *   from a request the authorizer allowed;
 * - no response yet (RequestReceived, or no responseStatus), a Panic, an authorizer error
 *   (a reason annotation without a decision) or a 403 without its message: unknown.
 * A ResponseStarted event carries the status the handler began answering with, after
 * authorization, so it is judged like a completed response.
 */
export function decisionOf(e: AuditEvent): AuthorizationDecision {
  const annotations = e.annotations;
  if (annotations) {
    const d = annotations[DECISION_KEY];
    if (d === 'allow' || d === 'forbid') return { decision: d, source: 'annotation' };
    // Some decision was written, but not one of the two this version knows; or the authorizer erred.
    if (d !== undefined || REASON_KEY in annotations) return UNKNOWN;
  }
  if (e.stage !== 'ResponseComplete' && e.stage !== 'ResponseStarted') return UNKNOWN;
  const code = e.responseStatus?.code;
  if (typeof code !== 'number') return UNKNOWN;
  if (code === 401) return UNKNOWN;
  const message = typeof e.responseStatus?.message === 'string' ? e.responseStatus.message : '';
  if (code === 429) return HANDLER_TOO_MANY.test(message) ? INFERRED_ALLOW : UNKNOWN;
  if (code === 403) {
    if (AUTHORIZER_DENIAL.test(message)) return INFERRED_FORBID;
    return message === '' ? UNKNOWN : INFERRED_ALLOW;
  }
  return INFERRED_ALLOW;
}
