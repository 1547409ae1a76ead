import { LEGACY_TOKEN_ANNOTATION, type Identity } from '../identity/identity.js';
import { commandLine, execArgs } from '../audit/execCommand.js';
import { escalationReasons } from './rbacChanges.js';
import { RBAC_RESOURCES, READS, WORKLOADS, WRITES, allowed, burst, ref, target, who } from './ruleHelpers.js';
import { THREAT_RULES } from './threatRules.js';
import type { DetectSettings, Hit, Rule } from './types.js';
import { controllerOwner, podSpecsOf, privilegedReasons } from './workloads.js';

const MASTERS = 'system:masters';
const AGGREGATION_CONTROLLER = 'system:serviceaccount:kube-system:clusterrole-aggregation-controller';

function isBreakGlass(i: Identity, s: DetectSettings): boolean {
  return s.breakGlass.accounts.includes(i.username) || i.groups.some((g) => s.breakGlass.groups.includes(g));
}

function pathAllowed(path: string, allowedPaths: readonly string[]): boolean {
  const p = path.split('?')[0]!;
  return allowedPaths.some((a) => (a.endsWith('*') ? p.startsWith(a.slice(0, -1)) : p === a));
}

/** The built-in detections (spec/pci.md "Finding → PCI requirement(s)"). */
export const RULES: readonly Rule[] = [
  {
    id: 'system-masters-use',
    title: 'system:masters used: RBAC bypassed',
    severity: 'high',
    description: 'A request by an identity in system:masters, which every authorizer step lets through without RBAC; its permissions cannot be reviewed or revoked.',
    pci: ['10.2.1.2', '7.2.1', '7.2.2', '8.2.2', '8.3.11', '2.2.2'],
    detect: (a) => {
      if (!a.effective.groups.includes(MASTERS) || a.effective.kind === 'control-plane') return null;
      return { message: `${who(a.effective)} (system:masters) ${a.event.verb} ${target(a)}` };
    },
  },
  {
    id: 'non-rbac-allow',
    title: 'Allowed by an authorizer other than RBAC',
    severity: 'medium',
    description: 'An allow with an empty reason from an identity outside system:nodes and system:masters: AlwaysAllow, a webhook authorizer, or another path around RBAC.',
    pci: ['7.2.1', '10.2.1.2'],
    detect: (a) => {
      const reason = a.event.annotations?.['authorization.k8s.io/reason'];
      if (a.decision !== 'allow' || reason !== '') return null;
      const g = a.effective.groups;
      if (g.includes('system:nodes') || g.includes(MASTERS) || a.effective.kind === 'node' || a.effective.kind === 'control-plane') return null;
      return { message: `${who(a.effective)} allowed without an RBAC reason: ${a.event.verb} ${target(a)}` };
    },
  },
  {
    id: 'break-glass-use',
    title: 'Break-glass or default admin account used',
    severity: 'critical',
    description: 'A request by a break-glass account (kubernetes-admin, kube:admin, system:admin, system:masters, kubeadm:cluster-admins by default). Inside a checkout it is attributed to the person; outside any, it is unattributed.',
    pci: ['8.2.2', '8.2.1', '10.2.2', '8.6.1', '10.4.3'],
    detect: (a, s) => {
      const i = [a.actor, a.effective].find((x) => isBreakGlass(x, s) && x.kind !== 'control-plane');
      return i ? { message: `break-glass account ${who(i)} ${a.event.verb} ${target(a)}`, key: i.username } : null;
    },
  },
  {
    id: 'anonymous-allowed',
    title: 'Anonymous request allowed beyond health endpoints',
    severity: 'high',
    description: 'system:anonymous was allowed something other than the configured health and version endpoints.',
    pci: ['8.3.1', '8.2.1', '7.2.1'],
    detect: (a, s) => {
      if (a.effective.kind !== 'anonymous' || a.decision !== 'allow') return null;
      if (!a.event.objectRef && pathAllowed(a.event.requestURI, s.anonymousAllowedPaths)) return null;
      return { message: `anonymous ${a.event.verb} ${target(a)} allowed from ${a.event.sourceIPs?.at(-1) ?? 'unknown address'}` };
    },
  },
  {
    id: 'anonymous-scanning',
    title: 'Burst of denied anonymous or unauthenticated requests',
    severity: 'medium',
    description: 'Many anonymous requests denied, or failed authentications, from one address within the window: scanning.',
    pci: ['10.2.1.4', '8.3.1', '10.4.1'],
    detect: (a, s, state) => {
      const failedAuth = a.actor.kind === 'unauthenticated';
      if (!failedAuth && !(a.effective.kind === 'anonymous' && a.decision === 'forbid')) return null;
      const ip = a.event.sourceIPs?.at(-1) ?? 'unknown';
      if (!burst(state, ip, a.receivedAt, s.bursts.anonymousDeniedCount, s.bursts.windowSeconds)) return null;
      return { message: `${s.bursts.anonymousDeniedCount} denied anonymous requests from ${ip} within ${s.bursts.windowSeconds} s`, key: ip };
    },
  },
  {
    id: 'default-serviceaccount-use',
    title: 'Default service account used against the API',
    severity: 'medium',
    description: "A namespace's default service account made a request: workloads should run as accounts of their own with only what they need.",
    pci: ['2.2.2', '7.2.5', '8.2.1', '8.6.1'],
    detect: (a) => (a.effective.serviceAccount?.name === 'default' ? { message: `${a.effective.username} ${a.event.verb} ${target(a)}` } : null),
  },
  {
    id: 'non-revocable-credential',
    title: 'Person using a client certificate',
    severity: 'medium',
    description: 'A human identity authenticated with a client certificate, which cannot be revoked before it expires.',
    pci: ['8.3.11', '8.2.5', '8.6.3', '8.2.2'],
    detect: (a) =>
      a.actor.kind === 'human' && a.actor.credential.kind === 'client-certificate'
        ? { message: `${a.actor.username} used client certificate ${a.actor.credential.id}`, key: `${a.actor.username} ${a.actor.credential.id}` }
        : null,
  },
  {
    id: 'legacy-sa-token',
    title: 'Legacy (secret-based) service-account token used',
    severity: 'medium',
    description: 'A service account authenticated with a token stored in a Secret, which never expires.',
    pci: ['8.6.2', '8.6.3', '8.6.1'],
    detect: (a) =>
      a.event.annotations?.[LEGACY_TOKEN_ANNOTATION] !== undefined ? { message: `${a.actor.username} used a legacy service-account token` } : null,
  },
  {
    id: 'impersonation',
    title: 'Impersonation',
    severity: 'medium',
    description: 'A request made as another identity (Impersonate-User); impersonating a privileged identity is high severity.',
    pci: ['10.2.2', '8.2.1', '10.2.1.2', '10.2.1.5'],
    detect: (a, s) => {
      if (!a.event.impersonatedUser) return null;
      const privileged = a.effective.groups.includes(MASTERS) || isBreakGlass(a.effective, s);
      return {
        message: `${who(a.actor)} impersonated ${a.effective.username}: ${a.event.verb} ${target(a)}`,
        key: `${a.actor.key} as ${a.effective.username}`,
        ...(privileged ? { severity: 'high' as const } : {}),
      };
    },
  },
  {
    id: 'pod-exec-attach-portforward',
    title: 'Exec, attach, port-forward, ephemeral container or node proxy',
    severity: 'high',
    description: 'Interactive access into a workload or node: pods/exec, pods/attach, pods/portforward, pods/ephemeralcontainers, nodes/proxy.',
    pci: ['10.2.1.2', '10.2.1.1', '7.2.6', '8.6.1'],
    resources: ['pods', 'nodes'],
    detect: (a) => {
      const r = ref(a);
      const interactive =
        (r.resource === 'pods' && ['exec', 'attach', 'portforward'].includes(r.subresource ?? '')) ||
        (r.resource === 'pods' && r.subresource === 'ephemeralcontainers' && WRITES.has(a.event.verb)) ||
        (r.resource === 'nodes' && r.subresource === 'proxy');
      if (!interactive || !allowed(a)) return null;
      const args = r.subresource === 'exec' ? execArgs(a.event.requestURI) : null;
      return { message: `${who(a.effective)} ${r.subresource} ${target(a)}${args ? `: ${commandLine(args)}` : ''}` };
    },
  },
  {
    id: 'secret-read',
    title: 'Secret read by a person, or by a service account outside its namespace',
    severity: 'medium',
    description: 'get, list or watch of Secrets by a human, or by a service account in another namespace (or across all).',
    pci: ['10.2.1.1', '8.6.3', '7.2.5'],
    resources: ['secrets'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'secrets' || r.subresource || !READS.has(a.event.verb) || !allowed(a)) return null;
      const e = a.effective;
      if (e.kind === 'human') return { message: `${who(e)} ${a.event.verb} ${target(a)}` };
      if (e.kind === 'serviceaccount' && e.serviceAccount && r.namespace !== e.serviceAccount.namespace) {
        return { message: `${e.username} ${a.event.verb} ${target(a)}${r.namespace ? '' : ' (all namespaces)'}` };
      }
      return null;
    },
  },
  {
    id: 'rbac-escalation',
    title: 'RBAC escalation',
    severity: 'high',
    description: 'A binding to cluster-admin or admin, a grant to anonymous, an admin role for a default service account, a role with wildcards, escalate/bind/impersonate or remote-shell rights, or a change to a system role.',
    pci: ['10.2.1.5', '7.2.3', '8.2.4', '10.2.1.7', '11.5.2'],
    resources: RBAC_RESOURCES,
    detect: (a) => {
      const r = ref(a);
      if (r.apiGroup !== 'rbac.authorization.k8s.io' || !allowed(a)) return null;
      // The control plane doing its job: the apiserver reconciling the bootstrap roles and
      // bindings, the aggregation controller writing the rules of aggregated ClusterRoles.
      if (a.actor.kind === 'control-plane') return null;
      if (a.actor.username === AGGREGATION_CONTROLLER && r.resource === 'clusterroles' && (a.event.verb === 'update' || a.event.verb === 'patch')) return null;
      const reasons = escalationReasons(r.resource ?? '', a.event.verb, r.name ?? '', a.event.requestObject);
      if (reasons.length === 0) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)}: ${reasons.join('; ')}`, key: `${a.effective.key} ${r.resource}/${r.name ?? ''}` };
    },
  },
  {
    id: 'token-request',
    title: 'Service-account token minted',
    severity: 'low',
    description: 'A TokenRequest (create serviceaccounts/token) by an identity other than a node or the control plane: a new credential for that account.',
    pci: ['10.2.1.5', '8.2.4', '8.6.1'],
    resources: ['serviceaccounts'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'serviceaccounts' || r.subresource !== 'token' || a.event.verb !== 'create' || !allowed(a)) return null;
      if (a.actor.kind === 'node' || a.actor.kind === 'control-plane') return null;
      return { message: `${who(a.effective)} minted a token for ${target(a)}` };
    },
  },
  {
    id: 'csr-approval',
    title: 'Certificate signing request approved',
    severity: 'medium',
    description: 'Approval of a CertificateSigningRequest: a new client certificate, which cannot be revoked, may follow.',
    pci: ['10.2.1.5', '8.2.4', '8.3.11'],
    resources: ['certificatesigningrequests'],
    detect: (a) => {
      const r = ref(a);
      if (r.resource !== 'certificatesigningrequests' || r.subresource !== 'approval' || !WRITES.has(a.event.verb) || !allowed(a)) return null;
      if (a.actor.kind === 'control-plane') return null;
      return { message: `${who(a.effective)} approved CSR ${r.name ?? ''}` };
    },
  },
  {
    id: 'admission-webhook-change',
    title: 'Admission webhook configuration changed',
    severity: 'high',
    description: 'A mutating or validating webhook configuration created, changed or deleted: it sees, and may change, every matching request.',
    pci: ['10.2.1.7', '11.5.2', '2.2.2'],
    resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
    detect: (a) => {
      const r = ref(a);
      const hooks = r.resource === 'mutatingwebhookconfigurations' || r.resource === 'validatingwebhookconfigurations';
      if (!hooks || !(WRITES.has(a.event.verb) || a.event.verb === 'delete' || a.event.verb === 'deletecollection') || !allowed(a)) return null;
      return { message: `${who(a.effective)} ${a.event.verb} ${target(a)}` };
    },
  },
  {
    id: 'privileged-workload',
    title: 'Privileged, host-namespace or sensitive hostPath workload',
    severity: 'high',
    description: 'A pod or pod template with a privileged container, added dangerous Linux capabilities (detections.dangerousCapabilities), hostNetwork/hostPID/hostIPC, or a hostPath on a sensitive host path (seen when the request body is recorded).',
    pci: ['2.2.2', '10.2.1.7', '11.5.2'],
    resources: [...WORKLOADS],
    detect: (a, s) => {
      const r = ref(a);
      if (!WORKLOADS.has(r.resource ?? '') || r.subresource || !WRITES.has(a.event.verb) || !allowed(a)) return null;
      const reasons = podSpecsOf(a.event.requestObject).flatMap((spec) => privilegedReasons(spec, s.dangerousCapabilities));
      if (reasons.length === 0) return null;
      const owner = controllerOwner(a.event.requestObject, r.namespace ?? '');
      return {
        message: `${who(a.effective)} ${a.event.verb} ${target(a)}: ${reasons.join(', ')}`,
        key: `${a.effective.key} ${r.resource} ${r.namespace ?? ''}`,
        ...(owner ? { owner } : {}),
      };
    },
  },
  {
    id: 'forbidden-burst',
    title: 'Burst of forbidden requests by one identity',
    severity: 'medium',
    description: 'Many requests denied to one identity within the window: probing for permissions, or a broken workload.',
    pci: ['10.2.1.4', '10.4.1', '10.4.1.1', '8.3.4'],
    detect: (a, s, state): Hit | null => {
      if (a.decision !== 'forbid' || a.effective.kind === 'anonymous') return null;
      if (!burst(state, a.effective.key, a.receivedAt, s.bursts.forbiddenCount, s.bursts.windowSeconds)) return null;
      return { message: `${s.bursts.forbiddenCount} requests by ${who(a.effective)} denied within ${s.bursts.windowSeconds} s` };
    },
  },
  ...THREAT_RULES,
];
