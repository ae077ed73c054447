import { Construct } from 'constructs';
import { KubePodDisruptionBudget, IntOrString } from '../../imports/k8s';

export interface DisruptionBudgetProps {
  readonly name: string;
  readonly namespace: string;
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * A PodDisruptionBudget (policy/v1; cdk8s-plus-27 has no construct for it) that lets node drains evict one pod
 * at a time, and evict pods that are not healthy anyway (`AlwaysAllow`), so a crash-looping pod cannot block a
 * drain.
 */
export class DisruptionBudget extends Construct {
  constructor(scope: Construct, id: string, props: DisruptionBudgetProps) {
    super(scope, id);
    new KubePodDisruptionBudget(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        maxUnavailable: IntOrString.fromNumber(1),
        selector: { matchLabels: { ...props.selectorLabels } },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
}

/** Pod-spec fields that spread a workload's pods over nodes: preferred anti-affinity plus a spread constraint. */
export function spreadOverNodes(selectorLabels: Readonly<Record<string, string>>): { affinity: unknown; topologySpreadConstraints: unknown[] } {
  const labelSelector = { matchLabels: { ...selectorLabels } };
  return {
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{
          weight: 100,
          podAffinityTerm: { labelSelector, topologyKey: 'kubernetes.io/hostname' },
        }],
      },
    },
    // ScheduleAnyway: a one-node cluster still runs every replica.
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector }],
  };
}
