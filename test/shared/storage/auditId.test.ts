import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { auditIdToKey, keyToAuditId } from '../../../shared/storage/auditId.js';
import { seededRandom } from '../../helpers.js';

/** What a stored key must be: a lower-case UUID as its 16 bytes, anything else as it is. */
function expected(id: string): Buffer | string {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? Buffer.from(id.replace(/-/g, ''), 'hex') : id;
}

describe('auditID keys', () => {
  it('stores a lower-case UUID as its 16 bytes and gives it back', () => {
    for (let i = 0; i < 1000; i++) {
      const id = randomUUID();
      const key = auditIdToKey(id);
      expect(key).to.deep.equal(expected(id));
      expect(keyToAuditId(key)).to.equal(id);
    }
  });

  it('keeps anything else as text: upper case, other lengths, dashes elsewhere, non-hex', () => {
    const random = seededRandom(36);
    const alphabet = '0123456789abcdefABCDEFg-';
    const odd = ['0B6B0F56-8A3E-4C1E-9D1C-000000000001', '0b6b0f568a3e-4c1e-9d1c-0000000000001', '0b6b0f56-8a3e-4c1e-9d1c-00000000000', 'x', '', '0b6b0f56-8a3e-4c1e-9d1c-00000000000g'];
    for (let i = 0; i < 5000; i++) {
      // Mostly UUID-shaped strings with one character changed.
      const chars = randomUUID().split('');
      chars[Math.floor(random() * 36)] = alphabet[Math.floor(random() * alphabet.length)]!;
      odd.push(chars.join(''));
    }
    for (const id of odd) expect(auditIdToKey(id), id).to.deep.equal(expected(id));
  });
});
