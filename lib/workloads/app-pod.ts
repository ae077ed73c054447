import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import * as kplus from '../core/kplus';
import { AppIdentity, identityLabels } from '../core/labels';
import { AppPodSpec, ContainerPortSpec, buildPod, podSecurityContext } from './pod-template';
import * as v from '../core/validation';
import { platformOf } from '../core/platform-rules';
import { CDK8S_ADDR_LABEL_POINTER, IExposable, checkWorkloadPlatform, dedicatedServiceAccount } from './workload';

export interface AppPodProps extends AppPodSpec {
  /** The Pod's name (DNS-1123 label); also `app.kubernetes.io/instance`. */
  readonly name: string;
  /** Namespace (DNS-1123 label). */
  readonly namespace: string;
  /** Recommended-label identity; `instance` is set to `name`. */
  readonly identity: Omit<AppIdentity, 'instance'>;
  /**
   * Annotations on the Pod, e.g. linter suppressions with their reason.
   * @default none
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Labels a Service selects this pod by (the seed's `app`/`purpose`). */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /**
   * Run as a ServiceAccount of its own, named like the Pod, with no token mounted.
   * @default the platform's `dedicatedServiceAccounts` (else the namespace's `default` account, no token mounted)
   */
  readonly dedicatedServiceAccount?: boolean;
}

/**
 * A bare Pod, as the seed's pod.yml declares one. Nothing recreates it if its node goes away: fine for the
 * tutorial it comes from; services that matter run as an AppDeployment.
 */
export class AppPod extends Construct implements IExposable {
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
  public readonly pod: kplus.Pod;

  constructor(scope: Construct, id: string, props: AppPodProps) {
    super(scope, id);
    this.name = v.dnsLabel(this, 'name', props.name);
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace);
    this.selectorLabels = v.labels(this, 'selectorLabels', { ...props.selectorLabels });
    this.identityLabels = v.labels(this, 'labels', identityLabels({ ...props.identity, instance: this.name }));
    this.ports = props.containers.flatMap((c) => (c.port ? [c.port] : []));
    this.shareProcessNamespace = props.shareProcessNamespace ?? false;
    v.annotations(this, 'annotations', props.annotations);
    const ownAccount = props.dedicatedServiceAccount ?? platformOf(this).dedicatedServiceAccounts;
    checkWorkloadPlatform(this, this.namespace, ownAccount);

    this.pod = new kplus.Pod(this, 'Resource', {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { ...this.selectorLabels, ...this.identityLabels },
        annotations: props.annotations ? { ...props.annotations } : undefined,
      },
      serviceAccount: dedicatedServiceAccount(this, ownAccount, this),
      automountServiceAccountToken: false,
      securityContext: podSecurityContext(props),
    });
    const obj = ApiObject.of(this.pod);
    buildPod(this, this.pod, obj, '/spec', props);
    obj.addJsonPatch(JsonPatch.remove(`/metadata/labels/${CDK8S_ADDR_LABEL_POINTER}`));
  }
}
