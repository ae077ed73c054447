import { Construct, IConstruct } from 'constructs';
import { ValidationError } from '../core/errors';
import * as kplus from '../core/kplus';
import { platformOf } from '../core/platform-rules';
import { ContainerPortSpec } from './pod-template';

/**
 * What a Service needs to know about the pods it exposes. Services are derived from this (never from
 * hand-typed selectors), so a Service cannot select nothing and cannot target an undeclared port.
 */
export interface IExposable extends IConstruct {
  /** The workload object's name, e.g. `go-ok`. */
  readonly name: string;
  /** The namespace its pods run in. */
  readonly namespace: string;
  /** The stable labels that select its pods (also its Deployment's `matchLabels`). */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /** Every port its containers declare. */
  readonly ports: readonly ContainerPortSpec[];
  /** Labels carried by Service, PDB and NetworkPolicy objects made for it. */
  readonly identityLabels: Readonly<Record<string, string>>;
}

/** The pod-template label cdk8s-plus adds for its own selectors: a hash, so never emitted. */
export const CDK8S_ADDR_LABEL_POINTER = 'cdk8s.io~1metadata.addr';

/**
 * The ServiceAccount of a workload that asks for one: named like the workload, labelled like it, and with no API
 * token mounted unless the workload talks to the Kubernetes API (`apiAccess`: a controller).
 */
export function dedicatedServiceAccount(scope: Construct, enabled: boolean | undefined,
  w: Pick<IExposable, 'name' | 'namespace' | 'identityLabels'>, apiAccess = false): kplus.IServiceAccount | undefined {
  if (!enabled) return undefined;
  return new kplus.ServiceAccount(scope, 'ServiceAccount', {
    metadata: { name: w.name, namespace: w.namespace, labels: { ...w.identityLabels } },
    automountToken: apiAccess,
  });
}

/**
 * The platform rules every workload (Deployment or Pod) obeys: its own ServiceAccount where the platform asks for
 * one, and a namespace of ours (not `default`) where the platform requires a Pod Security level.
 */
export function checkWorkloadPlatform(scope: IConstruct, namespace: string, dedicatedServiceAccountProp: boolean | undefined): void {
  const platform = platformOf(scope);
  if (platform.dedicatedServiceAccounts && !dedicatedServiceAccountProp) {
    throw ValidationError.of(scope, 'dedicatedServiceAccount', dedicatedServiceAccountProp ?? false,
      'must be true: platform.dedicatedServiceAccounts gives every workload a ServiceAccount of its own');
  }
  if (platform.podSecurity && namespace === 'default') {
    throw ValidationError.of(scope, 'namespace', namespace,
      `must be a namespace of the model: platform.podSecurity "${platform.podSecurity}" must be enforced on it, and "default" is not ours to label`);
  }
}
