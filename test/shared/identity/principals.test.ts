import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { PrincipalCache, sameJson } from '../../../shared/identity/principals.js';

const CREDENTIAL = 'authentication.kubernetes.io/credential-id';

const sa = (pod: string, jti = 'JTI=1'): UserInfo => ({
  username: 'system:serviceaccount:a:runner',
  groups: ['system:serviceaccounts', 'system:authenticated'],
  extra: { [CREDENTIAL]: [jti], 'authentication.kubernetes.io/pod-name': [pod] },
});

describe('principals', () => {
  describe('sameJson', () => {
    const pairs: [string, unknown, unknown][] = [
      ['equal nested values', { a: [1, 'x', { b: null }] }, { a: [1, 'x', { b: null }] }],
      ['different key order', { a: 1, b: 2 }, { b: 2, a: 1 }],
      ['an undefined key against a missing one', { a: 1, b: undefined }, { a: 1 }],
      ['an undefined array element against null', [undefined], [null]],
      ['a value of another type', { a: '1' }, { a: 1 }],
      ['an array against an object', { a: [] }, { a: {} }],
      ['arrays of other lengths', { g: ['x'] }, { g: ['x', 'y'] }],
      ['an extra key', { a: 1 }, { a: 1, c: 0 }],
      ['as many keys, undefined ones in other places', { a: 1, b: undefined, c: 2 }, { a: 1, c: 2, d: undefined }],
      ['as many keys, an undefined one against a defined one', { a: 1, b: undefined }, { a: 1, c: 3 }],
      ['a function value against a missing key', { a: 1, f: () => 0 }, { a: 1, g: undefined }],
    ];
    for (const [name, a, b] of pairs) {
      it(`agrees with JSON.stringify on ${name}`, () => {
        const want = JSON.stringify(a) === JSON.stringify(b);
        expect(sameJson(a, b)).to.equal(want);
        expect(sameJson(b, a)).to.equal(want);
      });
    }
  });

  describe('PrincipalCache', () => {
    it('gives one principal for equal users, with their JSON and identity', () => {
      const cache = new PrincipalCache();
      const p = cache.of(sa('p1'));
      expect(cache.of(sa('p1'))).to.equal(p);
      expect(p.json).to.equal(JSON.stringify(sa('p1')));
      expect(p.username).to.equal('system:serviceaccount:a:runner');
      expect(p.identity.kind).to.equal('serviceaccount');
      expect(p.identity.credential).to.include({ kind: 'bound-token', id: 'JTI=1', boundPod: 'p1' });
    });

    it('tells apart users with the same credential id or username and other fields', () => {
      const cache = new PrincipalCache();
      const a = cache.of(sa('p1'));
      const b = cache.of(sa('p2'));
      const c = cache.of({ username: 'alice', groups: ['dev'] });
      const d = cache.of({ username: 'alice', groups: ['dev', 'ops'] });
      expect(new Set([a, b, c, d]).size).to.equal(4);
      expect(b.json).to.equal(JSON.stringify(sa('p2')));
      expect(d.identity.groups).to.deep.equal(['dev', 'ops']);
    });

    it('is not fooled when the caller changes its object afterwards', () => {
      const cache = new PrincipalCache();
      const user = sa('p1');
      const p = cache.of(user);
      user.groups!.push('system:masters');
      expect(cache.of(user)).to.not.equal(p);
      expect(cache.of(sa('p1'))).to.equal(p);
      expect(p.identity.groups).to.not.include('system:masters');
    });

    it('finds users past the few compared under one key by their JSON', () => {
      const cache = new PrincipalCache();
      const pods = Array.from({ length: 30 }, (_, i) => `pod-${i}`);
      const first = pods.map((pod) => cache.of(sa(pod)));
      expect(new Set(first).size).to.equal(30);
      pods.forEach((pod, i) => expect(cache.of(sa(pod))).to.equal(first[i]));
    });

    it('starts afresh past its bound and still answers correctly', () => {
      const cache = new PrincipalCache(5);
      const users = Array.from({ length: 12 }, (_, i): UserInfo => ({ username: `u${i}` }));
      const principals = users.map((u) => cache.of(u));
      users.forEach((u, i) => {
        const again = cache.of(u);
        expect(again.json).to.equal(principals[i]!.json);
        expect(again.username).to.equal(`u${i}`);
      });
    });
  });
});
