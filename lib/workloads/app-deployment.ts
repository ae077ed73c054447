import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as kplus from '../core/kplus';
import { AppIdentity, identityLabels } from '../core/labels';
import { AppPodSpec, ContainerPortSpec, buildPod, podSecurityContext } from './pod-template';
import * as v from '../core/validation';
import { CDK8S_ADDR_LABEL_POINTER, IExposable, checkWorkloadPlatform, dedicatedServiceAccount } from './workload';
import { platformOf } from '../core/platform-rules';
import { AutoscalingSpec, CpuAutoscaler } from './autoscaler';
import { DisruptionBudget, spreadOverNodes } from './availability';
import { ValidationError } from '../core/errors';

export interface AppDeploymentProps extends AppPodSpec {
  /** The Deployment's name (DNS-1123 label); also `app.kubernetes.io/instance`. */
  readonly name: string;
  /** Namespace (DNS-1123 label). */
  readonly namespace: string;
  /** Recommended-label identity; `instance` is set to `name`. */
  readonly identity: Omit<AppIdentity, 'instance'>;
  /**
   * Stable labels that select the pods; immutable once applied, so never a version.
   * @default `{ app: identity.name }`
   */
  readonly selectorLabels?: Readonly<Record<string, string>>;
  /**
   * Pod count. Must be unset with `autoscaling`.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Let a HorizontalPodAutoscaler (autoscaling/v2, CPU) own the pod count; the Deployment then sets no replicas.
   * @default fixed `replicas`
   */
  readonly autoscaling?: AutoscalingSpec;
  /**
   * Run as a ServiceAccount of its own, named like the Deployment, with no token mounted.
   * @default the platform's `dedicatedServiceAccounts` (else the namespace's `default` account, no token mounted)
   */
  readonly dedicatedServiceAccount?: boolean;
  /**
   * Mount the ServiceAccount's API token: for a controller that talks to the Kubernetes API with its own
   * ServiceAccount's permissions. Needs `dedicatedServiceAccount` (a token of the namespace's `default` account
   * would be shared with every other workload there).
   * @default false: none of the apps talks to the Kubernetes API, so no token is mounted
   */
  readonly kubernetesApiAccess?: boolean;
  /**
   * With more than one replica: a PodDisruptionBudget allowing one disruption, and pods spread over nodes.
   * @default the platform's `highAvailability` (else false)
   */
  readonly highAvailability?: boolean;
  /**
   * Makes this a single-instance workload, for a program that must never run as two pods at once (e.g. it keeps
   * its data in memory: a second pod is a second, different database). The string says why, and is written on the
   * Deployment. It implies: exactly 1 replica in every environment (anything else, or `autoscaling`, is an error),
   * the `Recreate` strategy (the old pod is gone before the new one starts, so a rollout never overlaps the two),
   * and no PodDisruptionBudget or spread (a budget of one pod would block every node drain).
   * @default not single-instance: RollingUpdate, any replica count
   */
  readonly singleInstanceReason?: string;
  /**
   * Annotations on the Deployment, e.g. linter suppressions with their reason.
   * @default none
   */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A Deployment with stable names and labels and stated defaults: the workload half of a service. */
export class AppDeployment extends Construct implements IExposable {
  public readonly name: string;
  public readonly namespace: string;
  public readonly selectorLabels: Readonly<Record<string, string>>;
  public readonly ports: readonly ContainerPortSpec[];
  public readonly identityLabels: Readonly<Record<string, string>>;
  /**
   * True when the pod's programs share one PID namespace under the pause container (`shareProcessNamespace`):
   * none is PID 1, so SIGTERM stops even a program without a handler at once, well inside the grace period.
   */
  public readonly shareProcessNamespace: boolean;
  /** The pod count, or 'autoscaled'. */
  public readonly replicas: number | 'autoscaled';
  /** True for a single-instance workload (`singleInstanceReason`): one pod, never two, not even during a rollout. */
  public readonly singleInstance: boolean;
  public readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: AppDeploymentProps) {
    super(scope, id);
    this.name = v.dnsLabel(this, 'name', props.name);
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace);
    if (props.autoscaling && props.replicas !== undefined) {
      throw ValidationError.of(this, 'replicas', props.replicas, 'must be unset when autoscaling is on: the HorizontalPodAutoscaler owns the count');
    }
    this.replicas = props.autoscaling ? 'autoscaled' : props.replicas ?? 1;
    if (this.replicas !== 'autoscaled') v.replicas(this, 'replicas', this.replicas);
    this.singleInstance = props.singleInstanceReason !== undefined;
    if (this.singleInstance) {
      v.nonEmpty(this, 'singleInstanceReason', props.singleInstanceReason!);
      if (props.autoscaling) {
        throw ValidationError.of(this, 'autoscaling', JSON.stringify(props.autoscaling), `must be unset for a single-instance workload: ${props.singleInstanceReason}`);
      }
      if (this.replicas !== 1) {
        throw ValidationError.of(this, 'replicas', this.replicas, `must be exactly 1: ${props.singleInstanceReason}`);
      }
    }
    // A single-instance workload's one replica and its Recreate strategy are deliberate: kube-score's "at least 2
    // replicas" and "use RollingUpdate" checks do not apply (a rollout of one pod that must not overlap is a restart).
    const annotations = {
      ...(this.singleInstance ? {
        'kube-score/ignore': 'deployment-replicas,deployment-strategy',
        'kube-score/ignore-reason': `${props.singleInstanceReason!}; so one replica, replaced with Recreate, never two at once`,
      } : {}),
      ...props.annotations,
    };
    this.selectorLabels = v.labels(this, 'selectorLabels', { ...(props.selectorLabels ?? { app: props.identity.name }) });
    this.identityLabels = v.labels(this, 'labels', identityLabels({ ...props.identity, instance: this.name }));
    this.ports = props.containers.flatMap((c) => (c.port ? [c.port] : []));
    this.shareProcessNamespace = props.shareProcessNamespace ?? false;
    v.annotations(this, 'annotations', props.annotations);
    const platform = platformOf(this);
    const ownAccount = props.dedicatedServiceAccount ?? platform.dedicatedServiceAccounts;
    const highAvailability = props.highAvailability ?? platform.highAvailability;
    checkWorkloadPlatform(this, this.namespace, ownAccount);
    const apiAccess = props.kubernetesApiAccess ?? false;
    if (apiAccess && !ownAccount) {
      throw ValidationError.of(this, 'kubernetesApiAccess', true, 'needs dedicatedServiceAccount: the token would be the namespace\'s default account, shared with every workload there');
    }
    // A workload that serves traffic keeps serving while one pod is drained or replaced.
    if (platform.highAvailability && this.ports.length > 0 && !this.singleInstance) {
      const least = props.autoscaling ? props.autoscaling.minReplicas : this.replicas as number;
      if (least < 2) {
        throw ValidationError.of(this, props.autoscaling ? 'autoscaling.minReplicas' : 'replicas', least,
          'must be at least 2: platform.highAvailability keeps a serving workload up through a drain (or declare it single-instance with singleInstanceReason)');
      }
    }

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels: { ...this.identityLabels }, annotations: Object.keys(annotations).length ? annotations : undefined },
      replicas: this.replicas === 'autoscaled' ? undefined : this.replicas,
      select: false, // cdk8s-plus would select on a hashed address label
      podMetadata: { labels: { ...Chart.of(this).labels, ...this.selectorLabels, ...this.identityLabels } },
      serviceAccount: dedicatedServiceAccount(this, ownAccount, this, apiAccess),
      automountServiceAccountToken: apiAccess,
      securityContext: podSecurityContext(props),
      // cdk8s-plus's own spreading is off: `highAvailability` adds anti-affinity and a spread constraint instead.
      spread: false,
      // RollingUpdate with one replica surges to two pods (25 % rounds up); Recreate never overlaps them.
      strategy: this.singleInstance ? kplus.DeploymentStrategy.recreate() : undefined,
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: { ...this.selectorLabels } }));
    const obj = ApiObject.of(this.deployment);
    buildPod(this, this.deployment, obj, '/spec/template/spec', props);
    obj.addJsonPatch(JsonPatch.remove(`/spec/template/metadata/labels/${CDK8S_ADDR_LABEL_POINTER}`));
    if (props.autoscaling) {
      // cdk8s-plus writes `replicas: 1` when none is given; with an HPA every apply would reset the count.
      obj.addJsonPatch(JsonPatch.remove('/spec/replicas'));
      new CpuAutoscaler(this, 'Autoscaler', { ...props.autoscaling, deploymentName: this.name, namespace: this.namespace, labels: this.identityLabels });
    }
    const several = !this.singleInstance && (this.replicas === 'autoscaled' || this.replicas > 1);
    if (highAvailability && several) {
      new DisruptionBudget(this, 'DisruptionBudget', {
        name: this.name, namespace: this.namespace, selectorLabels: this.selectorLabels, labels: this.identityLabels,
      });
      const spread = spreadOverNodes(this.selectorLabels);
      obj.addJsonPatch(JsonPatch.add('/spec/template/spec/affinity', spread.affinity));
      obj.addJsonPatch(JsonPatch.add('/spec/template/spec/topologySpreadConstraints', spread.topologySpreadConstraints));
    }
  }
}
