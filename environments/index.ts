import { EnvironmentConfig } from './environment';
import { local } from './local';

export type { EnvironmentConfig } from './environment';
export { ENVIRONMENT_KEYS } from './environment';

/** Every environment main.ts synthesizes, by name. */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [local];
