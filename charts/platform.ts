import { Construct } from 'constructs';
import { AppChart, v } from '../lib/core';
import { SEALED_SECRETS_DEFAULTS, SealedSecretsController } from '../lib/platform';

/**
 * Where an environment's sealed-secrets controller comes from: deployed by this repository (the `platform` chart),
 * or run by someone else (a platform team) at the given place. `npm run bootstrap` fetches the certificate from
 * it either way; only `this-repository` puts it into dist/<env>/platform.k8s.yaml.
 */
export interface SealedSecretsControllerConfig {
  readonly deployedBy: 'this-repository' | 'platform-team';
  /** @default 'kube-system' */
  readonly namespace?: string;
  /** @default 'sealed-secrets-controller' */
  readonly name?: string;
  /**
   * Pinned image (only with `this-repository`).
   * @default the release kubeseal is pinned to
   */
  readonly image?: string;
}

/** Where the controller of an environment runs, defaults applied. */
export function sealedSecretsControllerRef(config: SealedSecretsControllerConfig): { namespace: string; name: string } {
  return { namespace: config.namespace ?? SEALED_SECRETS_DEFAULTS.namespace, name: config.name ?? SEALED_SECRETS_DEFAULTS.name };
}

/** What the systems need from the cluster, for environments that deploy it themselves: the sealed-secrets controller. */
export class PlatformChart extends AppChart {
  public readonly sealedSecrets: SealedSecretsController;

  constructor(scope: Construct, id: string, config: SealedSecretsControllerConfig) {
    super(scope, id, { partOf: 'platform' });
    v.knownKeys(this, 'config', config, v.keysOf<SealedSecretsControllerConfig>({ deployedBy: true, namespace: true, name: true, image: true }));
    if (config.deployedBy !== 'this-repository') {
      throw new Error(`${this.node.path}: the platform chart deploys the controller only for deployedBy "this-repository", not "${config.deployedBy}"`);
    }
    this.sealedSecrets = new SealedSecretsController(this, 'SealedSecrets', { namespace: config.namespace, name: config.name, image: config.image });
  }
}
