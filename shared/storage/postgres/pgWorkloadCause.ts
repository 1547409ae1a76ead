import type pg from 'pg';
import { identityOfStored } from '../../identity/identity.js';
import type { FindingCause } from '../findingAlert.js';
import { CONTROLLER, MAX_HOPS, RESOURCE_OF_KIND, ownerInBody } from '../sqlite/queries/workloadCause.js';
import type { Attribute } from './pgAlerts.js';

/**
 * The person's change a controller carried out, on PostgreSQL, as SQLite's WorkloadCauses finds
 * it: the owner chain of a controller-made object, through the last write of each owner before
 * the request and the owner named in that write's stored body, to the first write by someone
 * who is not a controller. Read in the writer's transaction, so that it sees what it stored.
 */
export async function findPgWorkloadCause(client: pg.PoolClient, owner: string, cluster: string, beforeMicros: number, attribute: Attribute): Promise<FindingCause | null> {
  let next: string | undefined = owner;
  let before = beforeMicros;
  for (let hop = 0; hop < MAX_HOPS && next; hop++) {
    const parts: string[] = next.split('/');
    const resource = RESOURCE_OF_KIND[parts[0]!];
    const namespace = parts[1] ?? '';
    const name = parts.slice(2).join('/');
    if (!resource) return null;
    const row = (
      await client.query<{ id: string; audit_id: string; received_at: string; has_body: number; verb: string; username: string; json: string }>(
        `SELECT e.id, e.audit_id, e.received_at, e.has_body, v.verb, p.username, p.json
         FROM objects o JOIN events e ON e.object_id = o.id JOIN verbs v ON v.id = e.verb_id JOIN principals p ON p.id = e.user_id
         WHERE o.resource = $1 AND o.namespace = $2 AND o.name = $3 AND v.verb IN ('create', 'update', 'patch') AND e.received_at <= $4
           AND e.cluster_id = (SELECT id FROM strings WHERE value = $5) AND (e.code IS NULL OR e.code < 400)
         ORDER BY e.received_at DESC LIMIT 1`,
        [resource, namespace, name, before, cluster],
      )
    ).rows[0];
    if (!row) return null;
    if (!CONTROLLER.test(row.username)) {
      return { username: row.username, person: attribute(identityOfStored(row.json)).person ?? null, verb: row.verb, object: `${resource}/${name}`, auditID: row.audit_id };
    }
    const body = row.has_body ? (await client.query<{ request: Buffer | null }>('SELECT request FROM bodies WHERE event_id = $1', [row.id])).rows[0]?.request : null;
    next = ownerInBody(body, namespace);
    before = Number(row.received_at);
  }
  return null;
}
