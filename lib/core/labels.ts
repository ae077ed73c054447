/** The tool recorded in `app.kubernetes.io/managed-by` on every object. */
export const MANAGED_BY = 'cdk8s';

/** Who an object belongs to, in the terms of the Kubernetes recommended labels. */
export interface AppIdentity {
  /** `app.kubernetes.io/name`: the application, e.g. `payment-service`. */
  readonly name: string;
  /**
   * `app.kubernetes.io/instance`: the object that runs it, e.g. the Deployment's name.
   * @default the same as `name`
   */
  readonly instance?: string;
  /** `app.kubernetes.io/component`: its role, e.g. `server`, `database`, `tls-proxy`. */
  readonly component: string;
  /**
   * `app.kubernetes.io/version`: the version running, usually the image tag. Never used in selectors.
   * @default no version label
   */
  readonly version?: string;
}

/**
 * `app.kubernetes.io/name|instance|component|version`. `part-of` and `managed-by` come from the chart
 * (see AppChart), so they are on every object, including ones made by cdk8s-plus.
 */
export function identityLabels(id: AppIdentity): Record<string, string> {
  return {
    'app.kubernetes.io/name': id.name,
    'app.kubernetes.io/instance': id.instance ?? id.name,
    'app.kubernetes.io/component': id.component,
    ...(id.version ? { 'app.kubernetes.io/version': id.version } : {}),
  };
}

/** The version label for an image reference: its tag, or the digest's first 12 hex digits. */
export function imageVersion(image: string): string | undefined {
  const digest = /@sha256:([a-f0-9]{12})/.exec(image);
  if (digest) return digest[1];
  const tag = /:([\w][\w.-]{0,62})$/.exec(image.split('/').pop() ?? '');
  return tag?.[1];
}
