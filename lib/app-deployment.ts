import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as kplus from './kplus';
import { AppIdentity, identityLabels } from './labels';
import { AppPodSpec, ContainerPortSpec, buildPod, podSecurityContext } from './pod-template';
import * as v from './validation';
import { CDK8S_ADDR_LABEL_POINTER, IExposable } from './workload';
import { ValidationError } from './errors';

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
   * Pod count. Leave undefined when a HorizontalPodAutoscaler owns it.
   * @default 1
   */
  readonly replicas?: number | 'autoscaled';
  /**
   * Set when the program cannot run as more than one pod (e.g. it keeps its data in memory); any replica count
   * other than 1 is then an error. The string says why.
   * @default no such limit
   */
  readonly singleReplicaReason?: string;
  /**
   * The ServiceAccount the pods run as.
   * @default the namespace's default account, with no token mounted
   */
  readonly serviceAccount?: kplus.IServiceAccount;
  /**
   * Extra pod-template annotations, e.g. a config checksum that rolls pods when a ConfigMap changes.
   * @default none
   */
  readonly podAnnotations?: Readonly<Record<string, string>>;
}

/** A Deployment with stable names and labels and stated defaults: the workload half of a service. */
export class AppDeployment extends Construct implements IExposable {
  public readonly name: string;
  public readonly namespace: string;
  public readonly selectorLabels: Readonly<Record<string, string>>;
  public readonly ports: readonly ContainerPortSpec[];
  public readonly identityLabels: Readonly<Record<string, string>>;
  /** The pod count, or 'autoscaled'. */
  public readonly replicas: number | 'autoscaled';
  public readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: AppDeploymentProps) {
    super(scope, id);
    this.name = v.dnsLabel(this, 'name', props.name);
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace);
    this.replicas = props.replicas ?? 1;
    if (this.replicas !== 'autoscaled') v.replicas(this, 'replicas', this.replicas);
    if (props.singleReplicaReason && this.replicas !== 1) {
      throw ValidationError.of(this, 'replicas', this.replicas, `must be exactly 1: ${props.singleReplicaReason}`);
    }
    this.selectorLabels = v.labels(this, 'selectorLabels', { ...(props.selectorLabels ?? { app: props.identity.name }) });
    this.identityLabels = v.labels(this, 'labels', identityLabels({ ...props.identity, instance: this.name }));
    this.ports = props.containers.flatMap((c) => (c.port ? [c.port] : []));

    this.deployment = new kplus.Deployment(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels: { ...this.identityLabels } },
      replicas: this.replicas === 'autoscaled' ? undefined : this.replicas,
      select: false, // cdk8s-plus would select on a hashed address label
      podMetadata: {
        labels: { ...Chart.of(this).labels, ...this.selectorLabels, ...this.identityLabels },
        annotations: props.podAnnotations ? { ...props.podAnnotations } : undefined,
      },
      serviceAccount: props.serviceAccount,
      automountServiceAccountToken: false, // none of these apps talks to the Kubernetes API
      securityContext: podSecurityContext(props),
      // Spread replicas over nodes when there are several; harmless with one.
      spread: false,
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: { ...this.selectorLabels } }));
    const obj = ApiObject.of(this.deployment);
    buildPod(this, this.deployment, obj, '/spec/template/spec', props);
    obj.addJsonPatch(JsonPatch.remove(`/spec/template/metadata/labels/${CDK8S_ADDR_LABEL_POINTER}`));
    if (this.replicas === 'autoscaled') obj.addJsonPatch(JsonPatch.remove('/spec/replicas'));
  }
}
