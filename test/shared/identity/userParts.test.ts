import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { identityOf } from '../../../shared/identity/identity.js';
import { identityMapReadsTokens, isPlaceholder, joinUser, splitUser, tokenRow } from '../../../shared/identity/userParts.js';

const sa = (i: number): UserInfo => ({
  username: 'system:serviceaccount:ci:runner',
  uid: 'sa-uid',
  groups: ['system:serviceaccounts', 'system:authenticated'],
  extra: {
    'authentication.kubernetes.io/credential-id': [`JTI=${i}`],
    'authentication.kubernetes.io/node-name': ['node-a'],
    'authentication.kubernetes.io/node-uid': [`node-uid-${i}`],
    'authentication.kubernetes.io/pod-name': [`runner-${i}`],
    'authentication.kubernetes.io/pod-uid': [`pod-uid-${i}`],
    'team.example/owner': ['ci'],
  },
});

describe('a user split into its stable part and its token\'s own values', () => {
  it('gives every token of one user the same stable part, and joins each back exactly', () => {
    const [a, b] = [splitUser(sa(1)), splitUser(sa(2))];
    expect(JSON.stringify(a.stable)).to.equal(JSON.stringify(b.stable));
    expect(a.credentialId).to.equal('JTI=1');
    for (const [user, parts] of [[sa(1), a], [sa(2), b]] as const) {
      expect(joinUser(JSON.stringify(parts.stable), tokenRow(parts))).to.equal(JSON.stringify(user));
    }
    expect(a.stable.extra!['team.example/owner']).to.deep.equal(['ci']);
    expect(tokenRow(a)).to.deep.equal({ json: '{"node-name":"node-a","node-uid":"node-uid-1","pod-name":"runner-1","pod-uid":"pod-uid-1"}', credentialId: 'JTI=1' });
  });

  it('keeps what identityOf reads: the stable part is the same kind of identity and credential', () => {
    const whole = identityOf(sa(1));
    const stable = identityOf(splitUser(sa(1)).stable);
    expect({ ...stable, credential: { kind: stable.credential.kind } }).to.deep.equal({ ...whole, credential: { kind: whole.credential.kind } });
    expect(isPlaceholder(stable.credential.id)).to.equal(true);
    expect(isPlaceholder(whole.credential.id)).to.equal(false);
  });

  it('moves nothing that is not a token\'s own value: certificates, odd values, users without extras', () => {
    const cert: UserInfo = { username: 'alice', extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] } };
    expect(splitUser(cert)).to.deep.equal({ stable: cert, token: null, credentialId: null });
    const odd = { username: 'x', extra: { 'authentication.kubernetes.io/pod-name': ['a', 'b'], 'authentication.kubernetes.io/node-name': [''] } } as UserInfo;
    expect(splitUser(odd).token).to.equal(null);
    expect(splitUser({ username: 'bob' }).token).to.equal(null);
    expect(joinUser('{"username":"bob"}', null)).to.equal('{"username":"bob"}');
  });

  it('knows when the identity map tells tokens apart', () => {
    expect(identityMapReadsTokens([{ match: { credentialId: 'X509SHA256=ab*' } }, { match: { username: '*' } }])).to.equal(false);
    for (const p of ['JTI=abc', 'JTI=*', '*', 'J*', '*abc']) expect(identityMapReadsTokens([{ match: { credentialId: p } }]), p).to.equal(true);
  });
});
