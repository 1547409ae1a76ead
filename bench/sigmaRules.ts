import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A Sigma rule set of `count` rules shaped like SigmaHQ's Kubernetes audit rules (verb and
 * resource selections, lists, `contains` on the requestURI, user-agent prefixes, `1 of`
 * conditions with filters, CIDR blocks, a regular expression), written to `dir`: the rule load of
 * the detection benchmark.
 */
export function writeSigmaRuleSet(dir: string, count = 50): string {
  mkdirSync(dir, { recursive: true });
  const resources = ['pods', 'secrets', 'configmaps', 'deployments', 'daemonsets', 'cronjobs', 'serviceaccounts', 'roles', 'rolebindings', 'clusterrolebindings', 'services', 'events', 'nodes', 'namespaces', 'leases', 'endpoints', 'ingresses'];
  const verbs = [['create'], ['delete'], ['patch', 'update'], ['list'], ['get', 'watch'], ['create', 'delete', 'patch', 'update']];
  for (let i = 0; i < count; i++) {
    const resource = resources[i % resources.length]!;
    const verb = verbs[i % verbs.length]!;
    const shape = i % 5;
    const detection =
      shape === 0
        ? `  selection:\n    verb: [${verb.join(', ')}]\n    objectRef.resource: ${resource}\n  condition: selection`
        : shape === 1
          ? `  selection:\n    objectRef.resource: ${resource}\n    requestURI|contains:\n      - '%2fbin%2fsh'\n      - '/bin/bash'\n      - 'command=curl'\n  filter_system:\n    user.username|startswith: 'system:'\n  condition: selection and not 1 of filter_*`
          : shape === 2
            ? `  selection_agent:\n    userAgent|startswith: ['curl/', 'python-requests/', 'Go-http-client/']\n  selection_resource:\n    objectRef.resource: ${resource}\n    verb: [${verb.join(', ')}]\n  condition: all of selection_*`
            : shape === 3
              ? `  selection:\n    objectRef.namespace: [kube-system, kube-public]\n    objectRef.resource: ${resource}\n  filter_cidr:\n    sourceIPs|cidr: ['10.0.0.0/8', '172.16.0.0/12']\n  condition: selection and not filter_cidr`
              : `  selection:\n    user.username|re: '^system:serviceaccount:[^:]+:(default|builder-${i})$'\n    objectRef.resource: ${resource}\n    responseStatus.code: [401, 403]\n  condition: selection`;
    writeFileSync(
      join(dir, `rule-${String(i).padStart(2, '0')}.yml`),
      `title: Benchmark rule ${i}\nid: 00000000-0000-4000-8000-${String(i).padStart(12, '0')}\nstatus: test\nlogsource:\n  product: kubernetes\n  service: audit\ndetection:\n${detection}\nlevel: ${['low', 'medium', 'high'][i % 3]}\ntags: [attack.t${1000 + i}]\n`,
    );
  }
  return dir;
}
