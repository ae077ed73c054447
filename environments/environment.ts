import { GoOkConfig } from '../charts/go-ok';
import { HashGeneratorConfig } from '../charts/hashgenerator';
import { SealedSecretsControllerConfig } from '../charts/platform';
import { ShopConfig } from '../charts/shop';
import { PlatformConfig, v } from '../lib/core';

/**
 * Everything that differs between environments. main.ts synthesizes each into `dist/<name>/`; a new
 * environment is a new value of this type, not new chart code.
 */
export interface EnvironmentConfig {
  /** Folder name under dist/ (DNS-1123 label). */
  readonly name: string;
  /**
   * Where `cdk8s synth` puts it: `dist` is committed; `dist-local` is git-ignored and the only place a plain
   * (unsealed) Secret may be written.
   * @default 'dist'
   */
  readonly outputRoot?: 'dist' | 'dist-local';
  /**
   * Whether a plain `cdk8s synth` builds it; otherwise only `SYNTH_ENVIRONMENTS=<name> cdk8s synth` does
   * (for targets that need local files, such as plaintext secrets).
   * @default true
   */
  readonly synthByDefault?: boolean;
  /**
   * What the cluster offers and demands: ServiceAccounts, high availability, NetworkPolicies.
   * @default none of them (a tutorial cluster)
   */
  readonly platform?: PlatformConfig;
  readonly goOk: GoOkConfig;
  readonly hashgenerator: HashGeneratorConfig;
  readonly shop: ShopConfig;
  /**
   * The sealed-secrets controller that unseals this environment's SealedSecrets: deployed by this repository (the
   * `platform` chart) or run by a platform team; `npm run bootstrap` fetches its certificate either way.
   * @default none: no controller in the model, and no bootstrap
   */
  readonly sealedSecretsController?: SealedSecretsControllerConfig;
}

/** Every field of EnvironmentConfig (compiler-checked): anything else in a config is a typo, and an error (environments/app.ts). */
export const ENVIRONMENT_KEYS = v.keysOf<EnvironmentConfig>({ name: true, outputRoot: true, synthByDefault: true, platform: true, goOk: true, hashgenerator: true, shop: true, sealedSecretsController: true });
