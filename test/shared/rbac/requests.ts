import type { ResourceAttributes, UserAttributes } from '../../../shared/rbac/types.js';

/** A resource request by `user`; fields not given are empty (core group, cluster-wide, no name). */
export function resourceRequest(user: UserAttributes, verb: string, resource: string, more: Partial<Omit<ResourceAttributes, 'user' | 'verb' | 'resource' | 'resourceRequest'>> = {}): ResourceAttributes {
  return { user, verb, resourceRequest: true, apiGroup: '', resource, subresource: '', namespace: '', name: '', ...more };
}
