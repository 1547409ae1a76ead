import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { identityOf, parseServiceAccountUsername, type Identity } from '../../../shared/identity/identity.js';
import { compileIdentityMap } from '../../../shared/identity/identityMap.js';

const AUTHENTICATED = 'system:authenticated';

/** Every identity form of spec/k8s-audit.md §8.2, §8.4 and §9, and what kubetrail must make of it. */
const cases: { name: string; user: UserInfo | undefined; annotations?: Record<string, string>; want: Partial<Identity> }[] = [
  {
    name: 'a pod-bound service-account token with a JTI (1.29+)',
    user: {
      username: 'system:serviceaccount:team-a:ci',
      uid: '7b3b7b3b-0000-4000-8000-000000000001',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', AUTHENTICATED],
      extra: {
        'authentication.kubernetes.io/credential-id': ['JTI=0d6c9a35-26a6-4b33-9c1a-4de1e1a5c4f2'],
        'authentication.kubernetes.io/pod-name': ['runner-7d9f'],
        'authentication.kubernetes.io/pod-uid': ['5c8e…'],
        'authentication.kubernetes.io/node-name': ['worker-2'],
      },
    },
    want: {
      kind: 'serviceaccount',
      serviceAccount: { namespace: 'team-a', name: 'ci' },
      credential: { kind: 'bound-token', id: 'JTI=0d6c9a35-26a6-4b33-9c1a-4de1e1a5c4f2', boundPod: 'runner-7d9f', boundNode: 'worker-2' },
      key: 'system:serviceaccount:team-a:ci',
    },
  },
  {
    name: 'a pod-bound token without a JTI (before 1.29)',
    user: { username: 'system:serviceaccount:kube-system:coredns', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['coredns-1'] } },
    want: { kind: 'serviceaccount', credential: { kind: 'bound-token', boundPod: 'coredns-1' } },
  },
  {
    name: 'a secret-based (legacy) token, from the legacy-token annotation',
    user: { username: 'system:serviceaccount:default:deployer', groups: ['system:serviceaccounts'] },
    annotations: { 'authentication.k8s.io/legacy-token': 'system:serviceaccount:default:deployer' },
    want: { kind: 'serviceaccount', serviceAccount: { namespace: 'default', name: 'deployer' }, credential: { kind: 'legacy-token' } },
  },
  {
    name: 'a service-account token with nothing to say which kind',
    user: { username: 'system:serviceaccount:default:default', groups: ['system:serviceaccounts'] },
    want: { kind: 'serviceaccount', credential: { kind: 'unknown' } },
  },
  {
    name: 'a client certificate (X509SHA256, 1.32+), kubeadm admin.conf',
    user: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', AUTHENTICATED], extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] } },
    want: { kind: 'human', credential: { kind: 'client-certificate', id: 'X509SHA256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' } },
  },
  {
    name: 'an OIDC user whose token has a JTI',
    user: { username: 'oidc:alice', groups: ['oidc:payments', AUTHENTICATED], extra: { 'authentication.kubernetes.io/credential-id': ['JTI=a1'] } },
    want: { kind: 'human', credential: { kind: 'jwt', id: 'JTI=a1' } },
  },
  {
    name: 'a node (kubelet)',
    user: { username: 'system:node:worker-1', groups: ['system:nodes', AUTHENTICATED] },
    want: { kind: 'node', node: 'worker-1', credential: { kind: 'unknown' } },
  },
  {
    name: 'a bootstrap token joining a node',
    user: { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token'] },
    want: { kind: 'node', credential: { kind: 'bootstrap-token' } },
  },
  { name: 'the apiserver to itself (loopback)', user: { username: 'system:apiserver', groups: ['system:masters', AUTHENTICATED] }, want: { kind: 'control-plane' } },
  { name: 'kube-controller-manager', user: { username: 'system:kube-controller-manager', groups: [AUTHENTICATED] }, want: { kind: 'control-plane' } },
  { name: 'kube-scheduler', user: { username: 'system:kube-scheduler', groups: [AUTHENTICATED] }, want: { kind: 'control-plane' } },
  { name: "EKS's own controllers", user: { username: 'eks:node-manager', groups: [AUTHENTICATED] }, want: { kind: 'control-plane' } },
  { name: "GKE's health check of the control plane", user: { username: 'system:gke-master-healthcheck' }, want: { kind: 'control-plane' } },
  { name: "AKS's resource provider", user: { username: 'aksService', groups: ['system:masters', AUTHENTICATED] }, want: { kind: 'control-plane' } },
  { name: 'a user named like a provider component is not one', user: { username: 'eks-admin', groups: [AUTHENTICATED] }, want: { kind: 'human' } },
  { name: 'anonymous', user: { username: 'system:anonymous', groups: ['system:unauthenticated'] }, want: { kind: 'anonymous' } },
  { name: 'a failed authentication (user {})', user: {}, want: { kind: 'unauthenticated', username: '' } },
  { name: 'no user at all', user: undefined, want: { kind: 'unauthenticated', username: '' } },
  {
    name: 'EKS: a shared mapped username behind an assumed-role session',
    user: {
      username: 'kubernetes-admin',
      uid: 'aws-iam-authenticator:111122223333:AROAEXAMPLE',
      groups: ['system:masters', AUTHENTICATED],
      extra: {
        arn: ['arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com'],
        canonicalArn: ['arn:aws:iam::111122223333:role/PlatformAdmin'],
        sessionName: ['alice@example.com'],
        accessKeyId: ['ASIAEXAMPLE'],
      },
    },
    want: {
      kind: 'human',
      key: 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com',
      cloud: {
        provider: 'aws',
        principal: 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com',
        account: '111122223333',
        role: 'PlatformAdmin',
        session: 'alice@example.com',
        accessKeyId: 'ASIAEXAMPLE',
      },
    },
  },
  {
    name: 'EKS: an IAM user',
    user: { username: 'bob', groups: [AUTHENTICATED], extra: { arn: ['arn:aws:iam::111122223333:user/ops/bob'] } },
    want: { kind: 'human', cloud: { provider: 'aws', principal: 'arn:aws:iam::111122223333:user/ops/bob', account: '111122223333', iamUser: 'bob' } },
  },
  { name: 'GKE: a Google account', user: { username: 'carol@example.com', groups: [AUTHENTICATED] }, want: { kind: 'human', key: 'carol@example.com' } },
  {
    name: 'GKE: a Google service account',
    user: { username: 'deployer@my-project.iam.gserviceaccount.com', groups: [AUTHENTICATED] },
    want: { kind: 'serviceaccount', cloud: { provider: 'gcp', principal: 'deployer@my-project.iam.gserviceaccount.com' } },
  },
  { name: 'OpenShift kube:admin', user: { username: 'kube:admin', groups: ['system:cluster-admins', AUTHENTICATED] }, want: { kind: 'human' } },
];

describe('identity', () => {
  for (const c of cases) {
    it(`classifies ${c.name}`, () => {
      const got = identityOf(c.user, c.annotations);
      for (const [k, v] of Object.entries(c.want)) expect(got[k as keyof Identity], k).to.deep.equal(v);
    });
  }

  it('splits service-account usernames exactly as the apiserver does, else treats them as plain users', () => {
    expect(parseServiceAccountUsername('system:serviceaccount:ns:name.with.dots')).to.deep.equal({ namespace: 'ns', name: 'name.with.dots' });
    for (const bad of ['system:serviceaccount:ns', 'system:serviceaccount:a:b:c', 'system:serviceaccount:UPPER:x', 'system:serviceaccount::x', 'system:serviceaccount:ns:', 'serviceaccount:ns:x']) {
      expect(parseServiceAccountUsername(bad), bad).to.equal(null);
      expect(identityOf({ username: bad }).kind, bad).to.equal('human');
    }
  });
});

describe('identity map', () => {
  const attribute = compileIdentityMap([
    { match: { credentialId: 'X509SHA256=9f86*' }, person: 'dana@example.com', team: 'platform' },
    { match: { arn: 'arn:aws:sts::111122223333:assumed-role/Breakglass/*' }, team: 'sre' },
    { match: { username: 'ci-*', group: 'ci-runners' }, person: 'ci-owner@example.com', team: 'build' },
    { match: { group: 'oidc:payments' }, team: 'payments' },
  ]);

  it('maps a certificate by its credential id to its holder', () => {
    const id = identityOf({ username: 'kubernetes-admin', extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=9f86d0'] } });
    expect(attribute(id)).to.deep.equal({ person: 'dana@example.com', team: 'platform', source: 0 });
  });

  it('takes the person from an EKS SSO session name when a rule gives only the team', () => {
    const id = identityOf({ username: 'kubernetes-admin', extra: { arn: ['arn:aws:sts::111122223333:assumed-role/Breakglass/erin@example.com'], sessionName: ['erin@example.com'] } });
    expect(attribute(id)).to.deep.equal({ person: 'erin@example.com', team: 'sre', source: 1 });
  });

  it('needs every condition of a rule to match', () => {
    expect(attribute(identityOf({ username: 'ci-7', groups: ['ci-runners'] }))).to.deep.include({ person: 'ci-owner@example.com', source: 2 });
    expect(attribute(identityOf({ username: 'ci-7', groups: ['others'] }))).to.deep.equal({});
  });

  it('gives a team by group, and nothing for an identity no rule names and that names no one', () => {
    expect(attribute(identityOf({ username: 'oidc:frank', groups: ['oidc:payments'] }))).to.deep.equal({ team: 'payments', source: 3 });
    expect(attribute(identityOf({ username: 'kubernetes-admin' }))).to.deep.equal({});
    expect(attribute(identityOf({ username: 'gina@example.com' }))).to.deep.equal({ person: 'gina@example.com', source: 'self' });
    // A service account is not a person, whatever its name looks like.
    expect(attribute(identityOf({ username: 'deployer@p.iam.gserviceaccount.com' }))).to.deep.equal({});
  });

  it('treats pattern characters other than * literally', () => {
    const exact = compileIdentityMap([{ match: { username: 'a.b+c' }, person: 'p' }]);
    expect(exact(identityOf({ username: 'a.b+c' })).person).to.equal('p');
    expect(exact(identityOf({ username: 'aXb+c' })).person).to.equal(undefined);
  });
});
