import type { Database, Statement } from 'better-sqlite3';

/**
 * Keeps `credential_minters`: for each principal, who requested (TokenRequest) a credential
 * it used. A token may be used before or after its minting is stored, so both ends record
 * the pair. Written on the writer thread, inside the transaction that stores either end.
 */
export class CredentialMinters {
  private readonly byMinting: Statement;
  private readonly byUse: Statement;

  constructor(db: Database) {
    this.byMinting = db.prepare(`INSERT OR IGNORE INTO credential_minters (principal_id, minter_id)
      SELECT principal_id, ? FROM user_tokens WHERE credential_id = ?
      UNION SELECT principal_id, ? FROM identities WHERE credential_id = ?`);
    this.byUse = db.prepare(`INSERT OR IGNORE INTO credential_minters (principal_id, minter_id)
      SELECT ?, e.user_id FROM issued_credentials ic JOIN events e ON e.id = ic.event_id WHERE ic.credential_id = ?`);
  }

  /** A TokenRequest by `minterId` issued `credentialId`: its users so far were minted by it. */
  issued(credentialId: string, minterId: number): void {
    this.byMinting.run(minterId, credentialId, minterId, credentialId);
  }

  /** `principalId` is first seen with `credentialId`: its minter, when stored, minted for it. */
  used(principalId: number, credentialId: string | null): void {
    if (credentialId !== null) this.byUse.run(principalId, credentialId);
  }
}
