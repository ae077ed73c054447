import { EnvironmentConfig } from './environment';
import { local } from './local';
import { localPlain } from './local-plain';
import { production } from './production';
import { productionStandin, withStandinImages } from './production-standin';
import { productionTwo } from './production-two';

export type { EnvironmentConfig } from './environment';
export { ENVIRONMENT_KEYS } from './environment';

/**
 * Test harness only: `LOCAL_STANDIN_REGISTRY=127.0.0.1:<port>` gives `local` the node tests' image swap
 * (`withStandinImages`, the same as production-standin's) and nothing else, so that the quick-start test
 * (test/cluster/quickstart-node.sh) runs `npm run bootstrap -- local` unchanged on a node that cannot reach Docker
 * Hub or GitHub. Only a registry on this machine is accepted; `STANDIN_SWAP` says what was swapped, for the
 * bootstrap to print.
 */
const LOCAL_STANDIN_REGISTRY = process.env.LOCAL_STANDIN_REGISTRY;
if (LOCAL_STANDIN_REGISTRY !== undefined && !/^(127\.0\.0\.1|localhost):\d{1,5}$/.test(LOCAL_STANDIN_REGISTRY)) {
  throw new Error(`LOCAL_STANDIN_REGISTRY: "${LOCAL_STANDIN_REGISTRY}" is not a registry on this machine (127.0.0.1:<port>); it is the node tests' image swap, not a mirror setting`);
}
export const STANDIN_SWAP: string | undefined = LOCAL_STANDIN_REGISTRY
  && `environment local: images swapped for the node tests' stand-ins from ${LOCAL_STANDIN_REGISTRY} (LOCAL_STANDIN_REGISTRY; environments/production-standin.ts, withStandinImages)`;
const localHere = LOCAL_STANDIN_REGISTRY ? withStandinImages(local, LOCAL_STANDIN_REGISTRY) : local;

/** Every environment main.ts knows, by name (`cdk8s synth` builds those with `synthByDefault`). */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [localHere, production, localPlain, productionStandin, productionTwo];
