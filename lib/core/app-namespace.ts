import { Chart } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import * as kplus from './kplus';
import { ValidationError } from './errors';
import { platformOf } from './platform-rules';
import * as v from './validation';

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

export interface AppNamespaceProps {
  /** Namespace name (DNS-1123 label). */
  readonly name: string;
  /**
   * Pod Security Admission level to enforce, warn and audit.
   * @default none (the cluster's default, usually privileged)
   */
  readonly podSecurity?: PodSecurityLevel;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A chart that holds the environment's Namespaces instead of the charts that declare them (the GitOps bootstrap,
 * charts/gitops.ts): under GitOps a namespace is a tenancy boundary the platform admin creates, together with the
 * RoleBinding that lets the environment's reconciler work in it.
 */
export interface NamespaceHome extends IConstruct {
  readonly isNamespaceHome: true;
}

function namespaceHome(scope: IConstruct): Chart | undefined {
  return scope.node.root.node.children.find((c): c is Chart & NamespaceHome => Chart.isChart(c) && (c as Partial<NamespaceHome>).isNamespaceHome === true);
}

/**
 * A Namespace, optionally labelled for Pod Security Admission. Its object is written with its chart, or, when the
 * App has a NamespaceHome, there (keeping the declaring chart's `part-of`).
 */
export class AppNamespace extends Construct {
  public readonly name: string;
  /** The enforced Pod Security level, if any. */
  public readonly podSecurity?: PodSecurityLevel;

  constructor(scope: Construct, id: string, props: AppNamespaceProps) {
    super(scope, id);
    this.name = v.dnsLabel(this, 'name', props.name);
    if (props.podSecurity !== undefined) v.oneOf(this, 'podSecurity', props.podSecurity, ['privileged', 'baseline', 'restricted']);
    const required = platformOf(this).podSecurity;
    if (required && props.podSecurity !== required) {
      throw ValidationError.of(this, 'podSecurity', props.podSecurity ?? 'none', `must be "${required}": platform.podSecurity requires it of every namespace`);
    }
    if (props.labels) v.labels(this, 'labels', { ...props.labels });
    this.podSecurity = props.podSecurity;
    const psa = props.podSecurity
      ? Object.fromEntries(['enforce', 'warn', 'audit'].flatMap((mode) => [
        [`pod-security.kubernetes.io/${mode}`, props.podSecurity!],
        [`pod-security.kubernetes.io/${mode}-version`, 'latest'],
      ]))
      : {};
    const home = namespaceHome(this);
    const labels = { ...(home ? { 'app.kubernetes.io/part-of': Chart.of(this).labels['app.kubernetes.io/part-of'] } : {}), ...props.labels, ...psa };
    new kplus.Namespace(home ?? this, home ? `Namespace-${this.name}` : 'Resource', { metadata: { name: this.name, labels } });
  }
}
