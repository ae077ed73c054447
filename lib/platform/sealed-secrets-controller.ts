import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { KubeClusterRole, KubeClusterRoleBinding, PolicyRule } from '../../imports/k8s';
import * as v from '../core/validation';
import { ValidationError } from '../core/errors';
import { ExposedService } from '../networking/exposed-service';
import { AppDeployment } from '../workloads/app-deployment';
import * as probes from '../workloads/probes';
import { RESTRICTED } from '../workloads/security';

/**
 * The sealed-secrets release this project pins: kubeseal is built from tools/kubeseal/go.mod at this version,
 * the cluster tests build the controller from the same module version, and the image below is its release.
 * test/platform.test.ts checks that the three agree.
 */
export const SEALED_SECRETS_VERSION = '0.40.0';

/**
 * The upstream controller image of that release. Pinned by tag only: its digest cannot be resolved offline (no
 * registry is reachable from the build machines); pin `@sha256:` once it is looked up where a registry is reachable.
 */
export const SEALED_SECRETS_CONTROLLER_IMAGE = `docker.io/bitnami/sealed-secrets-controller:${SEALED_SECRETS_VERSION}`;

/** Where kubeseal looks by default (`--controller-namespace`, `--controller-name`). */
export const SEALED_SECRETS_DEFAULTS = { namespace: 'kube-system', name: 'sealed-secrets-controller' } as const;

/** The port of the certificate endpoint (`/v1/cert.pem`, `/v1/verify`) and of `/healthz`, `/readyz`. */
export const SEALED_SECRETS_HTTP_PORT = 8080;

/**
 * The controller's permissions, derived from what v0.40.0 does with its default flags (pkg/controller of the
 * module; every rule is shown necessary by test/cluster/sealed-secrets.sh, which runs the real controller with
 * this ServiceAccount's token and with each rule taken away):
 * - sealedsecrets list, watch: its informer over all namespaces; get: when a Secret it made is deleted, it looks up
 *   the SealedSecret of the same name to re-create the Secret;
 * - sealedsecrets/status update: the Synced condition and observedGeneration;
 * - secrets get, create, update: the unsealed Secrets (in any namespace: SealedSecrets live with their apps) and,
 *   in its own namespace, its key pairs (`sealedsecrets.bitnami.com/sealed-secrets-key` Secrets, created at start
 *   and at each key renewal); list, watch: the key lookup at start (by label, own namespace) and its informer over
 *   the Secrets it made (re-creates one that is deleted);
 * - events create, patch: it records Unsealed / ErrUnsealFailed on the SealedSecret, and patches the count of a
 *   repeated event.
 * Not granted, because these defaults never use them: secrets delete (only with --old-gc-behavior; a Secret goes
 * with its SealedSecret through the owner reference, deleted by the garbage collector), namespaces get (only with
 * --additional-namespaces), update of sealedsecrets themselves. A cluster that enables the
 * OwnerReferencesPermissionEnforcement admission plugin would also need `update` on `sealedsecrets/finalizers`
 * (the owner reference sets blockOwnerDeletion); the Kubernetes defaults do not enable it.
 */
export const SEALED_SECRETS_CONTROLLER_RULES: readonly PolicyRule[] = [
  { apiGroups: ['bitnami.com'], resources: ['sealedsecrets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['bitnami.com'], resources: ['sealedsecrets/status'], verbs: ['update'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];

export interface SealedSecretsControllerProps {
  /**
   * Namespace of the controller and of its key Secrets. It must exist (kube-system does everywhere).
   * @default 'kube-system' (kubeseal's default)
   */
  readonly namespace?: string;
  /**
   * Name of the Deployment, Service, ServiceAccount and cluster RBAC objects.
   * @default 'sealed-secrets-controller' (kubeseal's default)
   */
  readonly name?: string;
  /**
   * Controller image, pinned.
   * @default SEALED_SECRETS_CONTROLLER_IMAGE
   */
  readonly image?: string;
}

const PROPS = v.keysOf<SealedSecretsControllerProps>({ namespace: true, name: true, image: true });

/**
 * The sealed-secrets controller: ServiceAccount (its token is the controller's API identity), a ClusterRole with
 * exactly SEALED_SECRETS_CONTROLLER_RULES and its binding, a single-instance AppDeployment hardened like every
 * workload (non-root UID/GID 10001, read-only root, no capabilities, seccomp RuntimeDefault, requests and limits,
 * probes on /healthz and /readyz, Recreate) and the ClusterIP Service kubeseal and `npm run bootstrap` fetch the certificate
 * through (`/api/v1/namespaces/<ns>/services/http:<name>:http/proxy/v1/cert.pem`).
 * The SealedSecret CRD is not part of it: crds/ holds it, and the deploy pipeline applies crds/ first.
 */
export class SealedSecretsController extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly image: string;
  /** The controller's Deployment (and its ServiceAccount), built like every workload. */
  public readonly workload: AppDeployment;
  public readonly service: ExposedService;

  constructor(scope: Construct, id: string, props: SealedSecretsControllerProps = {}) {
    super(scope, id);
    v.knownKeys(this, 'props', props, PROPS);
    this.name = v.dnsLabel(this, 'name', props.name ?? SEALED_SECRETS_DEFAULTS.name);
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace ?? SEALED_SECRETS_DEFAULTS.namespace);
    this.image = v.pinnedImage(this, 'image', props.image ?? SEALED_SECRETS_CONTROLLER_IMAGE);
    const tag = /:([^:@/]+)(@sha256:[a-f0-9]{64})?$/.exec(this.image)?.[1];
    if (tag !== undefined && tag.replace(/^v/, '') !== SEALED_SECRETS_VERSION) {
      throw ValidationError.of(this, 'image', this.image, `must be the release kubeseal is pinned to (${SEALED_SECRETS_VERSION}), so sealing and unsealing match`);
    }

    // The Deployment is built like every other workload (hardening, probes and their checks come from one place),
    // with the one difference a controller needs: its own ServiceAccount's token, which is its API identity.
    this.workload = new AppDeployment(this, 'Workload', {
      name: this.name,
      namespace: this.namespace,
      identity: { name: 'sealed-secrets', component: 'controller', version: SEALED_SECRETS_VERSION },
      selectorLabels: { app: this.name },
      dedicatedServiceAccount: true,
      kubernetesApiAccess: true,
      // Two controllers must not race on the same key renewal: the old pod goes before the new one starts.
      singleInstanceReason: 'one controller per cluster: two at once would both renew keys',
      annotations: {
        'kube-score/ignore-reason': 'one controller per cluster, replaced with Recreate: two at once would both renew keys',
        'ignore-check.kube-linter.io/no-anti-affinity': 'a single replica has nothing to spread',
      },
      containers: [{
        name: 'controller',
        image: this.image,
        // The image's entrypoint is the controller. Metrics (:8081) stay inside the pod: nothing scrapes them here.
        args: ['--listen-addr', `:${SEALED_SECRETS_HTTP_PORT}`, '--listen-metrics-addr', ':8081', '--update-status'],
        port: { name: 'http', number: SEALED_SECRETS_HTTP_PORT },
        // /healthz answers once the listener is up; /readyz once the informers are started.
        liveness: probes.httpGet('/healthz', SEALED_SECRETS_HTTP_PORT, { failureThreshold: 6 }),
        // On its first start the controller makes its key pair before it listens (~2 s on 2 cores): the first check
        // waits for that instead of failing once (a Warning event; seen on the node).
        readiness: probes.httpGet('/readyz', SEALED_SECRETS_HTTP_PORT, { initialDelaySeconds: Duration.seconds(5) }),
        // Generating a 4096-bit key at first start takes a few CPU-seconds; afterwards it idles.
        resources: {
          cpu: { request: '20m', limit: '500m' },
          memory: { request: '64Mi', limit: '256Mi' },
          ephemeralStorage: { request: '8Mi', limit: '32Mi' },
        },
        security: RESTRICTED,
        writablePaths: ['/tmp'],
      }],
    });
    const metadata = { name: this.name, labels: { ...this.workload.identityLabels } };
    const role = new KubeClusterRole(this, 'ClusterRole', { metadata, rules: SEALED_SECRETS_CONTROLLER_RULES.map((r) => ({ ...r })) });
    const binding = new KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.name },
      subjects: [{ kind: 'ServiceAccount', name: this.name, namespace: this.namespace }],
    });
    // The controller starts with its permissions in place: the role and binding come before its Deployment.
    binding.node.addDependency(role);
    this.workload.deployment.node.addDependency(binding);

    this.service = new ExposedService(this, 'Service', { target: this.workload });
  }
}
