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
}

export interface NetworkPolicyConfig {
  /** Where the Ingress controller's pods run, so Ingress backends can admit them. */
  readonly ingressController: {
    readonly namespace: string;
    /** Labels of the controller pods, e.g. `app.kubernetes.io/name: ingress-nginx`. */
    readonly podLabels: Readonly<Record<string, string>>;
  };
}

export const PLATFORM_KEYS: readonly (keyof PlatformConfig)[] = ['dedicatedServiceAccounts', 'highAvailability', 'networkPolicies'];
