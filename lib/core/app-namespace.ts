import { Construct } from 'constructs';
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

/** A Namespace, optionally labelled for Pod Security Admission. */
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
    new kplus.Namespace(this, 'Resource', { metadata: { name: this.name, labels: { ...props.labels, ...psa } } });
  }
}
