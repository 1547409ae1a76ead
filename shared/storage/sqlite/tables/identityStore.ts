import { createHash } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { identityOfStored } from '../../../identity/identity.js';
import { isPlaceholder } from '../../../identity/userParts.js';
import { compileIdentityMap, type Attribution, type IdentityRule } from '../../../identity/identityMap.js';

/**
 * Keeps the `identities` table: one row per principal, derived from its UserInfo, with the
 * person and team the identity map gives. Written on the writer thread only.
 */
export class IdentityStore {
  private readonly insert: Statement;
  private readonly attribute: ReturnType<typeof compileIdentityMap>;

  constructor(private readonly db: Database, private readonly rules: readonly IdentityRule[] = []) {
    this.attribute = compileIdentityMap(rules);
    this.insert = db.prepare(`INSERT OR REPLACE INTO identities
      (principal_id, kind, identity_key, credential_kind, credential_id, sa_namespace, sa_name, node, bound_pod, bound_node, cloud, person, team)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  }

  /**
   * Records the identity of a principal just stored (its UserInfo JSON as received); returns
   * the id of the credential it carries, when its own (not a split user's placeholder).
   */
  add(principalId: number, userJson: string): string | null {
    const id = identityOfStored(userJson);
    const a: Attribution = this.attribute(id);
    // A user stored split (identity/userParts.ts) holds placeholders: each token's values are on its own row.
    const own = (v: string | undefined) => (v === undefined || isPlaceholder(v) ? null : v);
    const c = id.credential;
    const credentialId = own(c.id);
    this.insert.run(
      principalId, id.kind, id.key, c.kind, credentialId, id.serviceAccount?.namespace ?? null, id.serviceAccount?.name ?? null,
      id.node ?? null, own(c.boundPod), own(c.boundNode), id.cloud ? JSON.stringify(id.cloud) : null, a.person ?? null, a.team ?? null,
    );
    return credentialId;
  }

  /**
   * Derives the identities of principals that have none (stored before identities were kept),
   * and re-attributes every identity when the identity map has changed since the last run.
   * Returns how many rows it wrote.
   */
  sync(): number {
    const hash = createHash('sha256').update(JSON.stringify(this.rules)).digest('hex');
    const stored = this.db.prepare("SELECT value FROM meta WHERE key = 'identity_map'").pluck().get() as Buffer | string | undefined;
    const changed = stored === undefined ? this.rules.length > 0 : String(stored) !== hash;
    const select = changed
      ? 'SELECT id, json FROM principals'
      : 'SELECT p.id, p.json FROM principals p LEFT JOIN identities i ON i.principal_id = p.id WHERE i.principal_id IS NULL';
    return this.db.transaction(() => {
      let n = 0;
      // Principals are few (one per distinct UserInfo): read them all, then write.
      for (const row of this.db.prepare(select).all() as { id: number; json: string }[]) {
        this.add(row.id, row.json);
        n++;
      }
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('identity_map', ?)").run(hash);
      return n;
    }).immediate();
  }
}
