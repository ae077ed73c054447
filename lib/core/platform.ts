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
export const PLATFORM_KEYS = keysOf<PlatformConfig>({ dedicatedServiceAccounts: true, highAvailability: true, networkPolicies: true, imagePinning: true, podSecurity: true, ingressTls: true });
