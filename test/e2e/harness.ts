import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const K8S_BIN = join(process.env.KUBETRAIL_CACHE ?? join(homedir(), '.cache', 'kubetrail'), 'k8s-1.34.4', 'bin');
const CLUSTER_SH = resolve(process.cwd(), 'test', 'e2e', 'cluster', 'cluster.sh');

export interface Cluster {
  /** The run folder of cluster.sh: credentials, kubeconfigs, logs (test/e2e/cluster/README.md). */
  dir: string;
  /** https://127.0.0.1:PORT */
  apiserver: string;
}

/**
 * Skips the suite, saying how to enable it, when the Kubernetes binaries are not built; under
 * CI=true their absence is a failure (.ci/run builds them).
 */
export function requireKubernetes(ctx: Mocha.Context): void {
  if (existsSync(join(K8S_BIN, 'kube-apiserver'))) return;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${K8S_BIN} has no kube-apiserver: .ci/run must run test/infra/k8s/build.sh`);
  // eslint-disable-next-line no-console
  console.log(`    (skipped: no kube-apiserver in ${K8S_BIN}; build it once with \`bash test/infra/k8s/build.sh\` (Go needed, about 8 minutes))`);
  ctx.skip();
}

/** Starts etcd, kube-apiserver and kube-controller-manager with the audit webhook sent to `webhook`. */
export function startCluster(webhook: string): Cluster {
  const r = spawnSync('bash', [CLUSTER_SH, 'start', webhook], { encoding: 'utf8' });
  const m = /KUBETRAIL_E2E_DIR=(\S+)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`cluster.sh start failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const dir = m[1]!;
  return { dir, apiserver: /APISERVER_URL=(\S+)/.exec(readFileSync(join(dir, 'env'), 'utf8'))![1]! };
}

export function stopCluster(c: Cluster | undefined): void {
  if (c) spawnSync('bash', [CLUSTER_SH, 'stop', c.dir]);
}
