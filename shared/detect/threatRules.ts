import { isObj } from './json.js';
import { classifyCommand, commandLine, execArgs } from '../audit/execCommand.js';
import { isPublicAddress } from './addresses.js';
import { imageAllowed } from './images.js';
import {
  CHANGES, RBAC_RESOURCES, READS, WORKLOADS, WRITES, allowed, distinctBurst, isControlPlane, peer, ref, remember, target, who,
} from './ruleHelpers.js';
import type { Action, Rule, RuleState } from './types.js';
import { containersOf, controllerOwner } from './workloads.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const SEQUENCE_TRIGGERS = new Set(RBAC_RESOURCES);
const SYSTEM_NAMESPACE_KINDS = new Set(['pods', 'daemonsets', 'cronjobs']);

const isCore = (a: Action) => !ref(a).apiGroup;
const body = (a: Action) => a.event.requestObject;
/** A rule's state of one kind (identities, addresses): a state of its own inside the rule's. */
function stateOf(state: RuleState, kind: string): RuleState {
  let inner = state.get(kind) as RuleState | undefined;
  if (!inner) state.set(kind, (inner = new Map()));
  return inner;
}

/** The object's name: in objectRef, else (a create) in the body's metadata. */
function nameOf(a: Action): string {
  const b = body(a);
  const meta = isObj(b) && isObj(b.metadata) ? b.metadata : {};
  return ref(a).name ?? (typeof meta.name === 'string' ? meta.name : '?');
}

/** A person's own request: the credential and the permissions are a human's. */
const human = (a: Action) => a.actor.kind === 'human' && a.effective.kind === 'human';

/** Whether a request body changes containers: a merge patch or object holding them, or a JSON patch on their paths. */
function touchesContainers(requestObject: unknown): boolean {
  if (Array.isArray(requestObject)) {
    return requestObject.some((op) => isObj(op) && typeof op.path === 'string' && /\/(?:initContainers|containers|ephemeralContainers)(?:\/|$)/.test(op.path));
  }
  return containersOf(requestObject).length > 0;
}

/** The images of the containers in a body. */
function imagesOf(requestObject: unknown): string[] {
  return containersOf(requestObject).flatMap((c) => (typeof c.image === 'string' ? [c.image] : []));
}

/**
 * The detections that complete the peers' rule sets (Falco k8saudit, Elastic, SigmaHQ,
 * GuardDuty EKS): workloads, exec forensics, Secrets, reconnaissance, tampering and
 * persistence, sequences and threat addresses. README "Detections" lists them.
 */
export const THREAT_RULES: readonly Rule[] = [
  // Workloads.
  {
    id: 'system-namespace-workload',
    title: 'Workload created in a system namespace by someone other than the control plane',
    severity: 'high',
    description: 'A pod, DaemonSet or CronJob created in kube-system or kube-public (detections.systemNamespaces) by an identity that is not the apiserver, a node or a kube-system controller: a common way to hide a foothold among the cluster\'s own pods.',
    pci: ['2.2.2', '10.2.1.7', '11.5.2'],
    resources: [...SYSTEM_NAMESPACE_KINDS],
    detect: (a, s) => {
      const r = ref(a);
      if (a.event.verb !== 'create' || r.subresource || !SYSTEM_NAMESPACE_KINDS.has(r.resource ?? '') || !s.systemNamespaces.includes(r.namespace ?? '') || !allowed(a)) return null;
      if (isControlPlane(a.actor)) return null;
      const owner = controllerOwner(body(a), r.namespace ?? '');
      return { message: `${who(a.effective)} created ${target(a)}`, key: `${a.effective.key} ${r.namespace}`, ...(owner ? { owner } : {}) };
    },
  },
  {
    id: 'untrusted-image-registry',
    title: 'Image from a registry outside the allowed list',
    severity: 'high',
    description: 'A pod or workload written with an image whose registry is not in detections.allowedRegistries (off while that list is empty). Seen when the request body is recorded.',
    pci: ['2.2.2', '11.5.2', '10.2.1.7'],
    resources: [...WORKLOADS],
    detect: (a, s) => {
      const r = ref(a);
      if (s.allowedRegistries.length === 0 || !WORKLOADS.has(r.resource ?? '') || r.subresource || !WRITES.has(a.event.verb) || !allowed(a)) return null;
      const outside = [...new Set(imagesOf(body(a)).filter((image) => !imageAllowed(image, s.allowedRegistries)))];
      if (outside.length === 0) return null;
      const owner = controllerOwner(body(a), r.namespace ?? '');
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)}: image ${outside.join(', ')} not from an allowed registry`, key: `${a.effective.key} ${outside.join(' ')}`, ...(owner ? { owner } : {}) };
    },
  },
  {
    id: 'workload-container-patch',
    title: 'A person changed the containers of a running workload',
    severity: 'medium',
    description: 'A human patched or updated the containers of an existing pod or workload (sidecar injection, image swap) rather than deploying through the usual pipeline.',
    pci: ['10.2.1.7', '11.5.2', '10.2.1.2'],
    resources: [...WORKLOADS],
    detect: (a) => {
      const r = ref(a);
      if ((a.event.verb !== 'patch' && a.event.verb !== 'update') || !WORKLOADS.has(r.resource ?? '') || (r.subresource && r.subresource !== 'ephemeralcontainers') || !allowed(a)) return null;
      if (!human(a) || !touchesContainers(body(a))) return null;
      return { message: `${who(a.effective)} ${a.event.verb} the containers of ${target(a)}`, key: `${a.effective.key} ${r.resource}/${r.namespace ?? ''}/${r.name ?? ''}` };
    },
  },

  // Exec forensics.
  {
    id: 'exec-suspicious-command',
    title: 'Exec of a download, reverse shell, or read of credentials',
    severity: 'critical',
    description: 'An exec whose command downloads (curl, wget), opens a reverse shell (/dev/tcp, nc -e, socat exec:), reads service-account tokens (/var/run/secrets), the node\'s Kubernetes config (/etc/kubernetes, /var/lib/kubelet) or a cloud metadata address (169.254.169.254). The command line is shown with secrets redacted.',
    pci: ['10.2.1.2', '10.2.1.1', '8.6.1', '8.6.3'],
    resources: ['pods'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'pods' || r.subresource !== 'exec' || !allowed(a)) return null;
      const args = execArgs(a.event.requestURI);
      const classes = args ? classifyCommand(args).filter((c) => c !== 'shell') : [];
      if (!args || classes.length === 0) return null;
      return { message: `${who(a.effective)} exec ${target(a)} [${classes.join(', ')}]: ${commandLine(args)}`, key: `${a.effective.key} ${r.namespace ?? ''}/${r.name ?? ''}` };
    },
  },
  {
    id: 'exec-kube-system',
    title: 'Exec or attach into a kube-system pod',
    severity: 'high',
    description: 'Interactive access into a pod of kube-system (or another system namespace), whose pods hold the cluster\'s own credentials.',
    pci: ['10.2.1.2', '7.2.6', '8.6.1'],
    resources: ['pods'],
    detect: (a, s) => {
      const r = ref(a);
      if (r.resource !== 'pods' || !['exec', 'attach'].includes(r.subresource ?? '') || !s.systemNamespaces.includes(r.namespace ?? '') || !allowed(a)) return null;
      const args = execArgs(a.event.requestURI);
      return { message: `${who(a.effective)} ${r.subresource} ${target(a)}${args ? `: ${commandLine(args)}` : ''}` };
    },
  },

  // Secrets.
  {
    id: 'secret-list-broad',
    title: 'Secrets listed across the cluster or in a system namespace',
    severity: 'high',
    description: 'A list or watch of Secrets in all namespaces, or in kube-system or default, by a person or by a service account outside its own namespace: every value at once.',
    pci: ['10.2.1.1', '8.6.3', '7.2.5'],
    resources: ['secrets'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'secrets' || !isCore(a) || r.subresource || (a.event.verb !== 'list' && a.event.verb !== 'watch') || !allowed(a)) return null;
      const ns = r.namespace ?? '';
      if (ns !== '' && ns !== 'kube-system' && ns !== 'default') return null;
      const e = a.effective;
      const sa = e.kind === 'serviceaccount' && e.serviceAccount && e.serviceAccount.namespace !== ns && !isControlPlane(e);
      if (e.kind !== 'human' && !sa) return null;
      return { message: `${who(e)} ${a.event.verb} secrets ${ns ? `in ${ns}` : 'in all namespaces'}`, key: `${e.key} ${ns}` };
    },
  },
  {
    id: 'secret-read-burst',
    title: 'One identity read many distinct Secrets',
    severity: 'high',
    description: 'One identity (not the control plane) read bursts.secretReads distinct Secrets within bursts.secretReadsWindowSeconds: harvesting credentials one by one.',
    pci: ['10.2.1.1', '8.6.3', '10.4.1'],
    resources: ['secrets'],
    detect: (a, s, state) => {
      const r = ref(a);
      if (r.resource !== 'secrets' || !isCore(a) || r.subresource || a.event.verb !== 'get' || !r.name || !allowed(a) || isControlPlane(a.effective)) return null;
      const seen = distinctBurst(state, a.effective.key, `${r.namespace ?? ''}/${r.name}`, a.receivedAt, s.bursts.secretReads, s.bursts.secretReadsWindowSeconds);
      if (!seen) return null;
      return { message: `${who(a.effective)} read ${seen.length} distinct Secrets within ${s.bursts.secretReadsWindowSeconds} s: ${seen.slice(0, 5).join(', ')}${seen.length > 5 ? ', …' : ''}` };
    },
  },
  {
    id: 'secret-read-generic-client',
    title: 'Secret read by a generic HTTP client',
    severity: 'medium',
    description: 'A Secret read with the user agent of a generic client (curl, python-requests, Go-http-client, … in detections.genericUserAgents) from outside the control plane: a stolen token replayed by hand or by a script.',
    pci: ['10.2.1.1', '8.6.3', '8.6.1'],
    resources: ['secrets'],
    detect: (a, s) => {
      const r = ref(a);
      if (r.resource !== 'secrets' || !isCore(a) || r.subresource || !READS.has(a.event.verb) || !allowed(a) || isControlPlane(a.actor)) return null;
      const agent = (a.event.userAgent ?? '').toLowerCase();
      if (!agent || !s.genericUserAgents.some((g) => agent.startsWith(g.toLowerCase()))) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)} with user agent '${a.event.userAgent}' from ${peer(a)}`, key: `${a.effective.key} ${a.event.userAgent}` };
    },
  },

  // Reconnaissance.
  {
    id: 'permission-enumeration',
    title: 'A workload or node asked what it may do',
    severity: 'medium',
    description: 'A SelfSubjectAccessReview or SelfSubjectRulesReview by a service account or a node: what an attacker with a stolen token runs first (kubectl auth can-i --list).',
    pci: ['10.2.1.4', '10.4.1', '8.6.1'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
    detect: (a) => {
      const r = ref(a);
      if (r.apiGroup !== 'authorization.k8s.io' || (r.resource !== 'selfsubjectaccessreviews' && r.resource !== 'selfsubjectrulesreviews') || a.event.verb !== 'create') return null;
      if (a.effective.kind !== 'serviceaccount' && a.effective.kind !== 'node') return null;
      if (a.effective.kind === 'serviceaccount' && isControlPlane(a.effective)) return null;
      return { message: `${who(a.effective)} created a ${r.resource === 'selfsubjectrulesreviews' ? 'SelfSubjectRulesReview (its whole permission list)' : 'SelfSubjectAccessReview'} from ${peer(a)}` };
    },
  },
  {
    id: 'resource-sweep',
    title: 'One identity or address touched many kinds of resources within a minute',
    severity: 'medium',
    description: 'bursts.distinctResources distinct resource types requested by one identity or from one address within bursts.windowSeconds, outside the control plane: discovery by a scanner or an attacker.',
    pci: ['10.2.1.4', '10.4.1', '10.4.1.1'],
    detect: (a, s, state) => {
      const r = ref(a);
      if (!r.resource || isControlPlane(a.actor)) return null;
      const kind = r.apiGroup ? `${r.resource}.${r.apiGroup}` : r.resource;
      const ip = peer(a);
      // Identities and addresses counted apart (a username may look like an address).
      for (const [by, key] of [['identity', a.effective.key], ['address', ip]] as const) {
        const seen = distinctBurst(stateOf(state, by), key, r.subresource ? `${kind}/${r.subresource}` : kind, a.receivedAt, s.bursts.distinctResources, s.bursts.windowSeconds);
        if (seen) {
          const who_ = by === 'identity' ? who(a.effective) : `address ${ip}`;
          return { message: `${who_} touched ${seen.length} kinds of resources within ${s.bursts.windowSeconds} s (${seen.slice(0, 8).join(', ')}, …)`, key: `${by} ${key}` };
        }
      }
      return null;
    },
  },

  // Tampering and persistence.
  {
    id: 'aws-auth-change',
    title: 'EKS aws-auth ConfigMap changed',
    severity: 'high',
    description: 'The kube-system/aws-auth ConfigMap, which maps IAM roles and users to Kubernetes groups (system:masters among them), was created, changed or deleted.',
    pci: ['10.2.1.5', '8.2.4', '7.2.3', '11.5.2'],
    resources: ['configmaps'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'configmaps' || !isCore(a) || r.namespace !== 'kube-system' || r.name !== 'aws-auth' || !CHANGES.has(a.event.verb) || !allowed(a)) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ConfigMap kube-system/aws-auth (IAM to Kubernetes identity mapping)` };
    },
  },
  {
    id: 'coredns-config-change',
    title: 'Cluster DNS configuration changed',
    severity: 'high',
    description: 'The CoreDNS (or kube-dns) ConfigMap in kube-system was changed or deleted by someone other than the control plane: DNS of every workload can be redirected.',
    pci: ['10.2.1.7', '11.5.2', '2.2.2'],
    resources: ['configmaps'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'configmaps' || !isCore(a) || r.namespace !== 'kube-system' || !['coredns', 'coredns-custom', 'kube-dns'].includes(r.name ?? '')) return null;
      if (!CHANGES.has(a.event.verb) || a.event.verb === 'create' || !allowed(a) || isControlPlane(a.actor)) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ConfigMap kube-system/${r.name}` };
    },
  },
  {
    id: 'events-deleted',
    title: 'Kubernetes Events deleted',
    severity: 'medium',
    description: 'Events deleted through the API by someone other than the control plane (the apiserver ages them out without a request): covering tracks.',
    pci: ['10.3.2', '10.2.1.7', '10.4.1'],
    resources: ['events'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'events' || (r.apiGroup && r.apiGroup !== 'events.k8s.io') || (a.event.verb !== 'delete' && a.event.verb !== 'deletecollection') || !allowed(a) || isControlPlane(a.actor)) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)}`, key: `${a.effective.key} ${r.namespace ?? ''}` };
    },
  },
  {
    id: 'exposed-service',
    title: 'A person exposed a Service outside the cluster',
    severity: 'medium',
    description: 'A human created or changed a Service of type NodePort or LoadBalancer: reachable from outside the cluster. Seen when the request body is recorded.',
    pci: ['10.2.1.7', '11.5.2', '2.2.2'],
    resources: ['services'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'services' || !isCore(a) || r.subresource || !WRITES.has(a.event.verb) || !allowed(a) || !human(a)) return null;
      const b = body(a);
      const type = isObj(b) && isObj(b.spec) ? b.spec.type : undefined;
      if (type !== 'NodePort' && type !== 'LoadBalancer') return null;
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)} as type ${type}` };
    },
  },
  {
    id: 'kube-system-serviceaccount',
    title: 'Service account created in kube-system',
    severity: 'medium',
    description: 'A ServiceAccount created in kube-system by someone other than the control plane: an account that hides among the controllers\' own.',
    pci: ['10.2.1.5', '8.2.4', '2.2.2'],
    resources: ['serviceaccounts'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'serviceaccounts' || !isCore(a) || r.subresource || r.namespace !== 'kube-system' || a.event.verb !== 'create' || !allowed(a) || isControlPlane(a.actor)) return null;
      return { message: `${who(a.effective)} created ServiceAccount kube-system/${nameOf(a)}` };
    },
  },
  {
    id: 'rbac-write-by-serviceaccount',
    title: 'RBAC written by a service account that is not a known controller',
    severity: 'high',
    description: 'A role or binding created, changed or deleted by a service account outside detections.rbacControllers (the aggregation, garbage-collector and namespace controllers by default): a workload\'s token granting itself or others access.',
    pci: ['10.2.1.5', '7.2.3', '8.2.4', '7.2.5'],
    resources: RBAC_RESOURCES,
    detect: (a, s) => {
      const r = ref(a);
      if (r.apiGroup !== RBAC_GROUP || !CHANGES.has(a.event.verb) || !allowed(a) || a.actor.kind !== 'serviceaccount') return null;
      if (s.rbacController(a.actor.username)) return null;
      return { message: `${who(a.actor)} ${a.event.verb} ${target(a)}`, key: `${a.actor.key} ${r.resource}/${r.namespace ?? ''}/${r.name ?? ''}` };
    },
  },
  {
    id: 'csr-creation',
    title: 'Certificate signing request created by a non-system user',
    severity: 'medium',
    description: 'A CertificateSigningRequest created by an identity outside system: (nodes and bootstrap tokens create theirs): the first step to a client certificate that cannot be revoked.',
    pci: ['10.2.1.5', '8.2.4', '8.3.11'],
    resources: ['certificatesigningrequests'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'certificatesigningrequests' || r.subresource || a.event.verb !== 'create' || !allowed(a)) return null;
      if (a.actor.username.startsWith('system:') || isControlPlane(a.actor)) return null;
      return { message: `${who(a.effective)} created CSR ${r.name ?? ''}`.trimEnd() };
    },
  },

  // Sequences.
  {
    id: 'rbac-change-then-use',
    title: 'RBAC change followed by a workload write or Secret read by the same identity',
    severity: 'high',
    description: 'An identity changed a role or binding, then within detections.sequenceSeconds (5 minutes) wrote a workload or read a Secret: granting itself access, then using it. One alert names both requests.',
    pci: ['10.2.1.5', '7.2.3', '10.2.1.1', '10.4.1'],
    detect: (a, s, state) => {
      const r = ref(a);
      if (!allowed(a) || isControlPlane(a.actor)) return null;
      const key = a.actor.key;
      if (r.apiGroup === RBAC_GROUP && SEQUENCE_TRIGGERS.has(r.resource ?? '') && CHANGES.has(a.event.verb)) {
        remember(state, key, { at: a.receivedAt, auditID: a.event.auditID, what: `${a.event.verb} ${target(a)}` });
        return null;
      }
      const workloadWrite = WORKLOADS.has(r.resource ?? '') && !r.subresource && WRITES.has(a.event.verb);
      const secretRead = r.resource === 'secrets' && isCore(a) && READS.has(a.event.verb);
      if (!workloadWrite && !secretRead) return null;
      const change = state.get(key) as { at: number; auditID: string; what: string } | undefined;
      if (!change || a.receivedAt - change.at > s.sequenceSeconds * 1e6 || a.receivedAt < change.at) return null;
      state.delete(key);
      return {
        message: `${who(a.actor)} ${change.what} (auditID ${change.auditID}), then ${Math.round((a.receivedAt - change.at) / 1e6)} s later ${a.event.verb} ${target(a)} (auditID ${a.event.auditID})`,
        key,
      };
    },
  },

  // Threat addresses.
  {
    id: 'deny-address',
    title: 'Request from a denied address',
    severity: 'high',
    description: 'A request (allowed or not) from an address in detections.denyAddresses or the file detections.denyAddressesFile (threat intelligence, Tor exits, former employees\' VPN ranges).',
    pci: ['10.2.1.4', '10.4.1', '10.4.1.1'],
    detect: (a, s) => {
      for (const ip of a.event.sourceIPs ?? []) {
        const entry = s.deniedBy(ip);
        if (entry) return { message: `${who(a.effective)} ${a.event.verb} ${target(a)} from ${ip} (denied by ${entry})${ip === peer(a) ? '' : ', as a forwarded address'}`, key: `${ip} ${a.effective.key}` };
      }
      return null;
    },
  },
  {
    id: 'system-identity-public-address',
    title: 'A system identity called from a public address',
    severity: 'high',
    description: 'A system: identity (node, controller, service account) whose request came from a public address outside detections.trustedAddresses: its credential is being used from outside the cluster\'s network.',
    pci: ['8.6.1', '8.3.11', '10.2.1.2'],
    detect: (a, s) => {
      const name = a.actor.username;
      if (!name.startsWith('system:') || a.actor.kind === 'anonymous' || a.actor.kind === 'unauthenticated') return null;
      const ip = peer(a);
      if (!isPublicAddress(ip) || s.trusted(ip)) return null;
      return { message: `${who(a.actor)} ${a.event.verb} ${target(a)} from public address ${ip}`, key: `${a.actor.key} ${ip}` };
    },
  },
];
