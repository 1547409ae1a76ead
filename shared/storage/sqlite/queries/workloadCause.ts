import { inflateRawSync } from 'node:zlib';
import type { Database, Statement } from 'better-sqlite3';
import { keyToAuditId } from '../../auditId.js';

/** The change a person (not a controller) made that led a controller to write an object. */
export interface WorkloadCause {
  username: string;
  person: string | null;
  verb: string;
  /** `resource/name`, e.g. deployments/web. */
  object: string;
  auditID: string;
}

export const RESOURCE_OF_KIND: Record<string, string> = {
  ReplicaSet: 'replicasets',
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
  Job: 'jobs',
  CronJob: 'cronjobs',
  ReplicationController: 'replicationcontrollers',
};

/** kube-controller-manager itself, or a controller running under its own service account. */
export const CONTROLLER = /^(system:kube-controller-manager|system:serviceaccount:kube-system:[a-z0-9-]+-controller)$/;

/** Owner chains are short (Pod → ReplicaSet → Deployment; Pod → Job → CronJob). */
export const MAX_HOPS = 4;

interface ChangeRow {
  id: number;
  audit_id: Buffer | string;
  received_at: number;
  has_body: number;
  verb: string;
  username: string;
  person: string | null;
}

/**
 * Follows a controller-made object's owner chain through the store — the last write of each
 * owner before `beforeMicros` and, where that write was a controller's too, the owner in its
 * stored request body — to the first write by someone who is not a controller.
 */
export class WorkloadCauses {
  private readonly lastWrite: Statement;
  private readonly body: Statement;

  constructor(db: Database) {
    this.lastWrite = db.prepare(`SELECT e.id, e.audit_id, e.received_at, e.has_body, v.verb, p.username, i.person
      FROM objects o
      JOIN events e ON e.object_id = o.id
      JOIN verbs v ON v.id = e.verb_id
      JOIN principals p ON p.id = e.user_id
      LEFT JOIN identities i ON i.principal_id = e.user_id
      WHERE o.resource = ? AND o.namespace = ? AND o.name = ? AND e.verb_id IN (4, 5, 6) AND e.received_at <= ?
        AND e.cluster_id = (SELECT id FROM strings WHERE value = ?) AND (e.code IS NULL OR e.code < 400)
      ORDER BY e.received_at DESC LIMIT 1`);
    this.body = db.prepare('SELECT request FROM bodies WHERE event_id = ?').pluck();
  }

  /** `owner` is `Kind/namespace/name`; null when the chain leaves the store or has no person's write. */
  find(owner: string, cluster: string, beforeMicros: number): WorkloadCause | null {
    let next: string | undefined = owner;
    let before = beforeMicros;
    for (let hop = 0; hop < MAX_HOPS && next; hop++) {
      const parts: string[] = next.split('/');
      const resource = RESOURCE_OF_KIND[parts[0]!];
      const namespace = parts[1] ?? '';
      const name = parts.slice(2).join('/');
      if (!resource) return null;
      const row = this.lastWrite.get(resource, namespace, name, before, cluster) as ChangeRow | undefined;
      if (!row) return null;
      if (!CONTROLLER.test(row.username)) {
        return { username: row.username, person: row.person, verb: row.verb, object: `${resource}/${name}`, auditID: keyToAuditId(row.audit_id) };
      }
      next = row.has_body ? this.ownerInBody(row.id, namespace) : undefined;
      before = row.received_at;
    }
    return null;
  }

  private ownerInBody(eventId: number, namespace: string): string | undefined {
    return ownerInBody(this.body.get(eventId) as Buffer | null | undefined, namespace);
  }
}

/** The controlling owner (`Kind/namespace/name`) named in a stored (compressed) request body. */
export function ownerInBody(compressed: Buffer | null | undefined, namespace: string): string | undefined {
  if (!compressed) return undefined;
  const body = JSON.parse(inflateRawSync(compressed).toString('utf8')) as { metadata?: { ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] } };
  const owner = body.metadata?.ownerReferences?.find((o) => o.controller === true);
  return owner?.kind && owner.name ? `${owner.kind}/${namespace}/${owner.name}` : undefined;
}
