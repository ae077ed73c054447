import { EnvironmentConfig } from './environment';
import { local } from './local';
import { localPlain } from './local-plain';
import { production } from './production';
import { productionStandin, withStandinImages } from './production-standin';
import { productionTwo } from './production-two';

export type { EnvironmentConfig } from './environment';
export { ENVIRONMENT_KEYS } from './environment';

/**
 * Test harness only (test/cluster/quickstart-node.sh): `LOCAL_STANDIN_REGISTRY=127.0.0.1:<port>` gives `local` the
 * node tests' image swap, `withStandinImages`. Only the harness's loopback form is accepted (not `localhost:`, a
 * developer's usual local registry), and `STANDIN_SWAP` is printed by every synth (main.ts) and by the bootstrap.
 * A `dist/local/` synthesized with it differs from the model, so CI's stale-dist/ check refuses it if committed.
 */
const LOCAL_STANDIN_REGISTRY = process.env.LOCAL_STANDIN_REGISTRY;
if (LOCAL_STANDIN_REGISTRY !== undefined && !/^127\.0\.0\.1:\d{1,5}$/.test(LOCAL_STANDIN_REGISTRY)) {
  throw new Error(`LOCAL_STANDIN_REGISTRY: "${LOCAL_STANDIN_REGISTRY}" is not the test cluster's registry (127.0.0.1:<port>); it is the node tests' image swap, not a mirror setting: unset it`);
}
export const STANDIN_SWAP: string | undefined = LOCAL_STANDIN_REGISTRY
  && `environment local: images swapped for the node tests' stand-ins from ${LOCAL_STANDIN_REGISTRY} (LOCAL_STANDIN_REGISTRY; environments/production-standin.ts, withStandinImages)`;
const localHere = LOCAL_STANDIN_REGISTRY ? withStandinImages(local, LOCAL_STANDIN_REGISTRY) : local;

/** Every environment main.ts knows, by name (`cdk8s synth` builds those with `synthByDefault`). */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [localHere, production, localPlain, productionStandin, productionTwo];
