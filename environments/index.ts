import { EnvironmentConfig } from './environment';
import { local } from './local';
import { localPlain } from './local-plain';
import { production } from './production';
import { productionStandin } from './production-standin';
import { productionTwo } from './production-two';

export type { EnvironmentConfig } from './environment';
export { ENVIRONMENT_KEYS } from './environment';

/** Every environment main.ts knows, by name (`cdk8s synth` builds those with `synthByDefault`). */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [local, production, localPlain, productionStandin, productionTwo];

