import { GoOkConfig } from '../charts/go-ok';
import { HashGeneratorConfig } from '../charts/hashgenerator';
import { ShopConfig } from '../charts/shop';

/**
 * Everything that differs between environments. main.ts synthesizes each into `dist/<name>/`; a new
 * environment is a new value of this type, not new chart code.
 */
export interface EnvironmentConfig {
  /** Folder name under dist/ (DNS-1123 label). */
  readonly name: string;
  readonly goOk: GoOkConfig;
  readonly hashgenerator: HashGeneratorConfig;
  readonly shop: ShopConfig;
}
