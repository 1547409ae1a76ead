import { expect } from 'chai';
import type { AuditEvent } from '../../../shared/audit/types.js';
import { eventToAttributes } from '../../../shared/rbac/eventToAttributes.js';
import type { RequestAttributes } from '../../../shared/rbac/types.js';
import { makeEvent } from '../../helpers.js';
import { resourceRequest } from './requests.js';

const alice = { username: 'alice', groups: ['dev', 'system:authenticated'] };
const user = { name: 'alice', groups: ['dev', 'system:authenticated'] };
const res = (verb: string, resource: string, more: Parameters<typeof resourceRequest>[3] = {}): RequestAttributes => resourceRequest(user, verb, resource, more);

/** The examples of spec/rbac.md §1.1, and the corners of the request-info parser. */
const cases: [string, Partial<AuditEvent>, RequestAttributes | null][] = [
  [
    'a pod log: subresource log, name from the URL',
    { verb: 'get', requestURI: '/api/v1/namespaces/ns1/pods/p1/log', objectRef: { resource: 'pods', namespace: 'ns1', name: 'p1', subresource: 'log', apiVersion: 'v1' } },
    res('get', 'pods', { subresource: 'log', namespace: 'ns1', name: 'p1' }),
  ],
  [
    'a deployment scale',
    { verb: 'patch', requestURI: '/apis/apps/v1/namespaces/ns1/deployments/d/scale', objectRef: { resource: 'deployments', namespace: 'ns1', name: 'd', subresource: 'scale', apiGroup: 'apps', apiVersion: 'v1' } },
    res('patch', 'deployments', { apiGroup: 'apps', subresource: 'scale', namespace: 'ns1', name: 'd' }),
  ],
  [
    'a namespace object is in its own namespace',
    { verb: 'get', requestURI: '/api/v1/namespaces/ns1', objectRef: { resource: 'namespaces', namespace: 'ns1', name: 'ns1', apiVersion: 'v1' } },
    res('get', 'namespaces', { namespace: 'ns1', name: 'ns1' }),
  ],
  [
    'a namespace status is the namespace subresource, not a resource named status',
    { verb: 'update', requestURI: '/api/v1/namespaces/ns1/status', objectRef: { resource: 'namespaces', namespace: 'ns1', name: 'ns1', subresource: 'status', apiVersion: 'v1' } },
    res('update', 'namespaces', { subresource: 'status', namespace: 'ns1', name: 'ns1' }),
  ],
  [
    'a create at the collection URL was authorized without the name the body gave',
    { verb: 'create', requestURI: '/api/v1/namespaces/ns1/configmaps', objectRef: { resource: 'configmaps', namespace: 'ns1', name: 'cm-from-body', apiVersion: 'v1' } },
    res('create', 'configmaps', { namespace: 'ns1' }),
  ],
  [
    'a list with fieldSelector metadata.name=X is for X',
    { verb: 'list', requestURI: '/api/v1/namespaces/ns1/configmaps?fieldSelector=metadata.name%3Dcm1&limit=500', objectRef: { resource: 'configmaps', namespace: 'ns1', apiVersion: 'v1' } },
    res('list', 'configmaps', { namespace: 'ns1', name: 'cm1' }),
  ],
  [
    'a watch through the deprecated /watch/ prefix, with a field selector among others',
    { verb: 'watch', requestURI: '/api/v1/watch/namespaces/ns1/secrets?fieldSelector=type%3DOpaque,metadata.name%3D%3Ds1', objectRef: { resource: 'secrets', namespace: 'ns1', apiVersion: 'v1' } },
    res('watch', 'secrets', { namespace: 'ns1', name: 's1' }),
  ],
  [
    'a field selector that excludes a name names nothing',
    { verb: 'list', requestURI: '/api/v1/pods?fieldSelector=metadata.name!%3Dp1', objectRef: { resource: 'pods', apiVersion: 'v1' } },
    res('list', 'pods'),
  ],
  [
    'an exec over WebSocket is a get of pods/exec',
    { verb: 'get', requestURI: '/api/v1/namespaces/ns1/pods/p1/exec?command=sh&stdin=true', objectRef: { resource: 'pods', namespace: 'ns1', name: 'p1', subresource: 'exec', apiVersion: 'v1' } },
    res('get', 'pods', { subresource: 'exec', namespace: 'ns1', name: 'p1' }),
  ],
  ['a health check is a non-resource request for its path', { verb: 'get', requestURI: '/healthz?verbose', objectRef: undefined }, { user, verb: 'get', resourceRequest: false, path: '/healthz' }],
  [
    'an impersonated request is judged for the impersonated user, with the groups recorded',
    { verb: 'list', requestURI: '/api/v1/pods', impersonatedUser: { username: 'system:serviceaccount:ci:bot', groups: ['system:serviceaccounts'] }, objectRef: { resource: 'pods', apiVersion: 'v1' } },
    { ...res('list', 'pods'), user: { name: 'system:serviceaccount:ci:bot', groups: ['system:serviceaccounts'] } },
  ],
  ['a failed authentication has no user to judge', { verb: 'get', requestURI: '/api/v1/pods', user: {}, objectRef: { resource: 'pods', apiVersion: 'v1' } }, null],
];

describe('RBAC: eventToAttributes', () => {
  for (const [name, overrides, want] of cases) {
    it(name, () => {
      const e = makeEvent({ user: alice, ...overrides });
      if ('objectRef' in overrides && overrides.objectRef === undefined) delete (e as { objectRef?: unknown }).objectRef;
      expect(eventToAttributes(e)).to.deep.equal(want);
    });
  }
});
