import { keysOf } from './validation';

/** What an environment's cluster offers and demands, applied by every chart. */
export interface PlatformConfig {
  /**
   * A ServiceAccount per workload (no token mounted) instead of the namespace's `default`.
   * @default false
   */
  readonly dedicatedServiceAccounts?: boolean;
  /**
   * For workloads with more than one replica: a PodDisruptionBudget that allows one disruption, and pods spread
   * over nodes (anti-affinity and a topology spread constraint).
   * @default false
   */
  readonly highAvailability?: boolean;
  /**
   * Deny all traffic in each namespace, then allow exactly the flows each system needs.
   * @default no NetworkPolicies
   */
  readonly networkPolicies?: NetworkPolicyConfig;
  /**
   * Run every container image by digest, from the committed images.lock.json (`npm run images:lock`), so two
   * replicas or a restart can never run different code. An image with no lock entry is a synth error.
   * @default images run as written (tags)
   */
  readonly imagePinning?: ImagePinningConfig;
  /**
   * The Pod Security level every namespace of the environment must enforce; `default` (not ours to label) is then
   * not allowed, and with `restricted` every container must run as non-root with a restricted security profile.
   * @default no level required
   */
  readonly podSecurity?: 'privileged' | 'baseline' | 'restricted';
  /**
   * `required`: every Ingress must terminate TLS.
   * @default optional
   */
  readonly ingressTls?: 'required' | 'optional';
  /**
   * Reconciled from git by Flux (lib/gitops/, charts/gitops.ts): the environment gets `dist/<env>/flux.k8s.yaml`, the
   * bootstrap a platform admin applies once (its Namespaces, the reconciler's ServiceAccount and RBAC, the
   * GitRepository and Kustomizations), and Flux applies the rest of `dist/<env>/` as that ServiceAccount.
   * @default none: the environment is deployed by the push deploy (npm run deploy)
   */
  readonly gitops?: GitOpsConfig;
}

/** Where Flux pulls an environment from, and how often. */
export interface GitOpsConfig {
  /** The repository's git URL as the cluster reaches it (https:// or http://). */
  readonly url: string;
  /** The branch whose commits the cluster runs (merges to it are deploys). */
  readonly branch: string;
  /**
   * How often source-controller looks for a new commit, and kustomize-controller re-applies (reverting drift).
   * @default '1m' for the source, '10m' for the Kustomizations
   */
  readonly interval?: { readonly source?: string; readonly apply?: string };
  /**
   * For a private repository: the name of a Secret in the Flux objects' namespace (`gitops`) holding the git
   * credentials, as source-controller reads them (GitRepository `spec.secretRef`: `username` and `password` (a
   * token) for https, or `bearerToken`). Never committed in plain: README, "GitOps" says how a team makes it.
   * @default none: the repository is cloned without credentials (public)
   */
  readonly secretRef?: string;
}

export interface ImagePinningConfig {
  /**
   * Images allowed to stay on their tag, each with the reason. The reason is written on the workload as a Checkov
   * suppression (`checkov.io/skip1: CKV_K8S_43=<reason>`), so scanners report it as a documented exception.
   * @default none
   */
  readonly exceptions?: Readonly<Record<string, string>>;
}

export interface NetworkPolicyConfig {
  /** Where the Ingress controller's pods run, so Ingress backends can admit them. */
  readonly ingressController: {
    readonly namespace: string;
    /** Labels of the controller pods, e.g. `app.kubernetes.io/name: ingress-nginx`. */
    readonly podLabels: Readonly<Record<string, string>>;
  };
}

/** Every field of PlatformConfig (compiler-checked): anything else is a typo, and an error. */
export const PLATFORM_KEYS = keysOf<PlatformConfig>({ dedicatedServiceAccounts: true, highAvailability: true, networkPolicies: true, imagePinning: true, podSecurity: true, ingressTls: true, gitops: true });
