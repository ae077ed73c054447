import { IConstruct } from 'constructs';
import { ValidationError } from './errors';
import { NetworkPolicyConfig, PlatformConfig } from './platform';
import * as v from './validation';

/**
 * What an environment's platform settings imply, checked by the constructs that write the values, at synth time,
 * for every chart (a chart that forgets a check of its own is still caught here). Each rule names the setting
 * that implies it, so the message says why a value that is fine elsewhere is wrong in this environment:
 *
 * - `networkPolicies`: traffic enters only through the Ingress controller, so every Service is ClusterIP;
 * - `highAvailability`: a workload that serves traffic runs at least 2 pods (or is declared single-instance);
 * - `dedicatedServiceAccounts`: no workload runs as its namespace's `default` ServiceAccount;
 * - `podSecurity`: every namespace of ours enforces that level (so none is `default`, which is not ours), and every
 *   container can run under it;
 * - `ingressTls: 'required'`: every Ingress terminates TLS.
 * (`imagePinning` is enforced where images are resolved, workloads/image-lock.ts.)
 */
const CONTEXT_KEY = 'k8s-infra/platform';

/** Makes `platform` the rules of every construct below `root` (an App). Validates the settings themselves. */
export function usePlatform(root: IConstruct, platform: PlatformConfig): void {
  const np = platform.networkPolicies;
  if (np) {
    v.knownKeys(root, 'platform.networkPolicies', np, v.keysOf<NetworkPolicyConfig>({ ingressController: true }));
    v.knownKeys(root, 'platform.networkPolicies.ingressController', np.ingressController, v.keysOf<NetworkPolicyConfig['ingressController']>({ namespace: true, podLabels: true }));
    v.dnsLabel(root, 'platform.networkPolicies.ingressController.namespace', np.ingressController?.namespace);
    const labels = np.ingressController?.podLabels;
    if (!labels || typeof labels !== 'object' || Object.keys(labels).length === 0) {
      throw ValidationError.of(root, 'platform.networkPolicies.ingressController.podLabels', labels, 'must be a non-empty map of labels that select the controller pods');
    }
    v.labels(root, 'platform.networkPolicies.ingressController.podLabels', { ...labels });
  }
  if (platform.podSecurity !== undefined) v.oneOf(root, 'platform.podSecurity', platform.podSecurity, ['privileged', 'baseline', 'restricted']);
  if (platform.ingressTls !== undefined) v.oneOf(root, 'platform.ingressTls', platform.ingressTls, ['required', 'optional']);
  for (const key of ['dedicatedServiceAccounts', 'highAvailability'] as const) {
    if (platform[key] !== undefined && typeof platform[key] !== 'boolean') throw ValidationError.of(root, `platform.${key}`, platform[key], 'must be true or false');
  }
  root.node.setContext(CONTEXT_KEY, platform);
}

/** The platform settings in force for a construct. */
export function platformOf(scope: IConstruct): PlatformConfig {
  return (scope.node.tryGetContext(CONTEXT_KEY) as PlatformConfig | undefined) ?? {};
}
