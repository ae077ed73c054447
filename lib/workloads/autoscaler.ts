import { Construct } from 'constructs';
import { KubeHorizontalPodAutoscalerV2 } from '../../imports/k8s';
import { ValidationError } from '../core/errors';

export interface AutoscalingSpec {
  /** At least 2, so one pod can be lost. */
  readonly minReplicas: number;
  /** More than minReplicas. */
  readonly maxReplicas: number;
  /**
   * Target average CPU use, in percent of the request.
   * @default 75
   */
  readonly cpuUtilization?: number;
}

export interface CpuAutoscalerProps extends AutoscalingSpec {
  /** The Deployment's name (the scale target). */
  readonly deploymentName: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** An autoscaling/v2 HorizontalPodAutoscaler on CPU for a Deployment; the Deployment then sets no replicas. */
export class CpuAutoscaler extends Construct {
  /** The pod count range and CPU target it scales by. */
  public readonly spec: Required<AutoscalingSpec>;

  constructor(scope: Construct, id: string, props: CpuAutoscalerProps) {
    super(scope, id);
    if (!Number.isInteger(props.minReplicas) || props.minReplicas < 2) {
      throw ValidationError.of(this, 'minReplicas', props.minReplicas, 'must be a whole number >= 2');
    }
    if (!Number.isInteger(props.maxReplicas) || props.maxReplicas <= props.minReplicas) {
      throw ValidationError.of(this, 'maxReplicas', props.maxReplicas, `must be a whole number > minReplicas (${props.minReplicas})`);
    }
    const cpu = props.cpuUtilization ?? 75;
    if (!Number.isInteger(cpu) || cpu < 1 || cpu > 100) throw ValidationError.of(this, 'cpuUtilization', cpu, 'must be a percentage from 1 to 100');
    this.spec = { minReplicas: props.minReplicas, maxReplicas: props.maxReplicas, cpuUtilization: cpu };
    new KubeHorizontalPodAutoscalerV2(this, 'Resource', {
      metadata: { name: props.deploymentName, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: props.deploymentName },
        minReplicas: props.minReplicas,
        maxReplicas: props.maxReplicas,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: cpu } } }],
      },
    });
  }
}
