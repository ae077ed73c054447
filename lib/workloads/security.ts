/**
 * How a container runs, chosen per image: cdk8s-plus's blanket defaults (runAsNonRoot, read-only root) break
 * images that run as root or write to their filesystem, so each workload states what its image needs.
 */
export interface SecurityProfile {
  /**
   * The user and group to run as, or `image-default` for whatever the image says (root for all seed images).
   */
  readonly runAs: { readonly user: number; readonly group: number } | 'image-default';
  /** Mount the root filesystem read-only; give the program emptyDirs for the paths it writes (`writablePaths`). */
  readonly readOnlyRootFilesystem: boolean;
  /** Drop every Linux capability. */
  readonly dropAllCapabilities: boolean;
}

/**
 * Pod Security Standards "restricted": a non-root UID/GID >= 10000 (kube-score's bar), read-only root, no
 * capabilities. Together with the pod's seccomp RuntimeDefault (always set) this passes PSS restricted.
 */
export const RESTRICTED: SecurityProfile = {
  runAs: { user: 10001, group: 10001 },
  readOnlyRootFilesystem: true,
  dropAllCapabilities: true,
};

/**
 * For images that must run as root and write to their root filesystem (the shop's start-up script runs
 * `apk add` and `npm install`). Only for environments whose namespaces do not enforce "restricted".
 */
export const IMAGE_ROOT: SecurityProfile = {
  runAs: 'image-default',
  readOnlyRootFilesystem: false,
  dropAllCapabilities: false,
};

export function isRestricted(p: SecurityProfile): boolean {
  return p.runAs !== 'image-default' && p.runAs.user !== 0 && p.readOnlyRootFilesystem && p.dropAllCapabilities;
}
