import { Construct } from 'constructs';
import { KubeRole, KubeRoleBinding, KubeServiceAccount, PolicyRule } from '../../imports/k8s';
import { Kustomization, KustomizationSpecSourceRefKind } from '../../imports/kustomize.toolkit.fluxcd.io';
import { GitRepository } from '../../imports/source.toolkit.fluxcd.io';
import { GitOpsConfig } from '../core/platform';
import { ValidationError } from '../core/errors';
import { identityLabels } from '../core/labels';
import * as v from '../core/validation';

/** The Flux release this project pins (tools/flux/go.mod; crds/ holds its CRDs): source-controller and kustomize-controller. */
export const FLUX_VERSION = '1.9.6';

/** The file of dist/<env>/ that holds the bootstrap (the chart id of charts/gitops.ts). */
export const FLUX_BOOTSTRAP_FILE = 'flux.k8s.yaml';

export interface FluxSyncProps {
  /** The environment (dist/<environment>/ is what it reconciles). */
  readonly environment: string;
  readonly config: GitOpsConfig;
  /** Namespace of the GitRepositories, Kustomizations and the reconciler's ServiceAccount; it must exist. */
  readonly namespace: string;
  /**
   * Names of the CustomResourceDefinitions of crds/ that `<env>-platform` applies: it is Ready once they are
   * Established, so the environment's custom objects (SealedSecrets) come after them.
   */
  readonly crds: readonly string[];
}

/** One API resource an environment writes in a namespace. */
export interface OwnedResource {
  readonly group: string;
  readonly resource: string;
}

const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

/**
 * An environment reconciled by Flux, in two Kustomizations from the same repository:
 * - `<env>-platform`, kustomize-controller's own identity: this bootstrap (dist/<env>/flux.k8s.yaml: the
 *   environment's Namespaces, the reconciler's ServiceAccount and Roles, these sources and Kustomizations) and the
 *   CRDs of crds/ the model uses (not Flux's own: Flux's installation owns those). Never pruned: removing a
 *   namespace or the reconciler is a platform admin's deliberate act. Ready once the CRDs are Established.
 * - `<env>`, impersonating the ServiceAccount `<env>-reconciler`: every other file of dist/<env>/, pruned, waited
 *   for (health checks), after `<env>-platform` is Ready, so CRDs and Namespaces come first.
 * Each reads its own GitRepository, whose `ignore` leaves exactly its files in the artifact (and keeps secrets/,
 * sealing/ and the code out of the cluster).
 */
export class FluxSync extends Construct {
  public readonly serviceAccountName: string;
  public readonly namespace: string;
  public readonly platform: Kustomization;
  public readonly apply: Kustomization;
  public readonly sources: GitRepository[];
  private readonly environment: string;

  constructor(scope: Construct, id: string, props: FluxSyncProps) {
    super(scope, id);
    v.knownKeys(this, 'props', props, v.keysOf<FluxSyncProps>({ environment: true, config: true, namespace: true, crds: true }));
    const env = v.dnsLabel(this, 'environment', props.environment);
    this.environment = env;
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace);
    const config = props.config;
    v.knownKeys(this, 'platform.gitops', config, v.keysOf<GitOpsConfig>({ url: true, branch: true, interval: true, secretRef: true }));
    if (typeof config.url !== 'string' || !/^https?:\/\/[^/\s]+\/\S+$/.test(config.url)) {
      throw ValidationError.of(this, 'platform.gitops.url', config.url, 'must be an http:// or https:// git URL (source-controller clones it)');
    }
    if (typeof config.branch !== 'string' || !/^[A-Za-z0-9._/-]+$/.test(config.branch)) {
      throw ValidationError.of(this, 'platform.gitops.branch', config.branch, 'must be a branch name');
    }
    // A Secret's name is a DNS-1123 subdomain; source-controller reads it from the GitRepository's own namespace.
    const secretRef = config.secretRef === undefined ? undefined : v.dnsSubdomain(this, 'platform.gitops.secretRef', config.secretRef);
    const sourceInterval = config.interval?.source ?? '1m';
    const applyInterval = config.interval?.apply ?? '10m';
    for (const [field, value] of [['interval.source', sourceInterval], ['interval.apply', applyInterval]]) {
      if (!DURATION.test(value)) throw ValidationError.of(this, `platform.gitops.${field}`, value, 'must be a Go duration such as 30s, 1m or 10m');
    }
    this.serviceAccountName = `${env}-reconciler`;
    const metadata = (name: string, component: string) => ({ name, namespace: this.namespace, labels: identityLabels({ name: 'flux-sync', instance: env, component }) });

    // gitignore syntax (source-controller's sourceignore): everything out, then back in what each one applies.
    const onlyEnv = ['/*', '!/dist/', '/dist/*', `!/dist/${env}/`];
    const platformIgnore = [...onlyEnv, '!/crds/', `/dist/${env}/*`, `!/dist/${env}/${FLUX_BOOTSTRAP_FILE}`, '/crds/*.toolkit.fluxcd.io_*'];
    const envIgnore = [...onlyEnv, `/dist/${env}/${FLUX_BOOTSTRAP_FILE}`];
    const source = (name: string, ignore: string[]) => new GitRepository(this, `Source-${name}`, {
      metadata: metadata(name, 'source'),
      spec: {
        url: config.url, ref: { branch: config.branch }, ...(secretRef ? { secretRef: { name: secretRef } } : {}),
        interval: sourceInterval, timeout: '60s', ignore: `${ignore.join('\n')}\n`,
      },
    });
    const platformSource = source(`${env}-platform`, platformIgnore);
    const envSource = source(env, envIgnore);
    this.sources = [platformSource, envSource];

    new KubeServiceAccount(this, 'ServiceAccount', { metadata: metadata(this.serviceAccountName, 'reconciler'), automountServiceAccountToken: false });

    this.platform = new Kustomization(this, 'Platform', {
      metadata: metadata(`${env}-platform`, 'kustomization'),
      spec: {
        sourceRef: { kind: KustomizationSpecSourceRefKind.GIT_REPOSITORY, name: platformSource.name },
        path: './',
        interval: applyInterval,
        retryInterval: '1m',
        timeout: '3m',
        prune: false,
        // Not `wait`: it applies the <env> Kustomization, which waits for it (dependsOn), so waiting for all it
        // applies would wait for itself. It waits for what the environment needs first: the CRDs established.
        healthChecks: props.crds.map((name) => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name })),
      },
    });
    this.apply = new Kustomization(this, 'Apply', {
      metadata: metadata(env, 'kustomization'),
      spec: {
        sourceRef: { kind: KustomizationSpecSourceRefKind.GIT_REPOSITORY, name: envSource.name },
        path: `./dist/${env}`,
        serviceAccountName: this.serviceAccountName,
        dependsOn: [{ name: this.platform.name }],
        interval: applyInterval,
        retryInterval: '1m',
        timeout: '5m',
        prune: true,
        wait: true,
      },
    });
  }

  /**
   * Lets the reconciler write exactly these resources in `namespace` (a Role and its RoleBinding there), and
   * nothing anywhere else: a Kustomization of this environment that writes outside gets Forbidden from the API
   * server. Verbs: what kustomize-controller's server-side apply, drift check, prune and health checks use.
   */
  public grant(namespace: string, resources: readonly OwnedResource[]): void {
    v.dnsLabel(this, 'namespace', namespace);
    const byGroup = new Map<string, Set<string>>();
    for (const r of resources) byGroup.set(r.group, (byGroup.get(r.group) ?? new Set()).add(r.resource));
    const rules: PolicyRule[] = [...byGroup.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([group, res]) => ({
      apiGroups: [group], resources: [...res].sort(), verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
    }));
    // kstatus (the health checks) reads a Deployment's ReplicaSets and Pods to tell its rollout state.
    if (resources.some((r) => r.group === 'apps' && r.resource === 'deployments')) {
      rules.push({ apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] });
      if (!resources.some((r) => r.group === '' && r.resource === 'pods')) rules.push({ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] });
    }
    const name = `k8s-infra-${this.environment}-reconciler`;
    const labels = identityLabels({ name: 'flux-sync', instance: this.environment, component: 'reconciler' });
    const role = new KubeRole(this, `Role-${namespace}`, { metadata: { name, namespace, labels }, rules });
    const binding = new KubeRoleBinding(this, `RoleBinding-${namespace}`, {
      metadata: { name, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: this.serviceAccountName, namespace: this.namespace }],
    });
    binding.node.addDependency(role);
  }
}

/** The API resource of a kind (lowercase plural, as RBAC names it). */
export function resourceOf(kind: string): string {
  const k = kind.toLowerCase();
  if (/(s|x|ch|sh)$/.test(k)) return `${k}es`;
  if (/[^aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}
