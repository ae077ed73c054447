import { SEALED_SECRETS_VERSION } from '../lib/platform/sealed-secrets-controller';
import { EnvironmentConfig } from './environment';
import { production } from './production';

/** The environment the node suite (test/cluster/production-node.sh) deploys. */
export const PRODUCTION_STANDIN = 'production-standin';

/**
 * The registry the stand-in images are pushed to: the test cluster's own (test/cluster/harness/registry.sh),
 * which the suite passes as `STANDIN_REGISTRY`.
 */
const DEFAULT_REGISTRY = '127.0.0.1:5000';

/** Where each stand-in lives in the registry: the names test/cluster/harness/push-standins.sh pushes. */
export function standinImages(registry: string) {
  return {
    goOk: `${registry}/standin/go-ok:1`,
    nginx: `${registry}/standin/nginx:1`,
    hashgenerator: `${registry}/standin/hashgenerator:1`,
    shopRepository: `${registry}/standin/shop`,
    /** The real controller, built from the pinned module (test/cluster/harness/build-node-controllers.sh). */
    sealedSecretsController: `${registry}/standin/sealed-secrets-controller:v${SEALED_SECRETS_VERSION}`,
  } as const;
}

/** The tag images:build gives the shop's images (the short upstream commit), see images/build.ts. */
export const SHOP_STANDIN_TAG = '8ec0446';

/**
 * The image swap, and nothing else: `base` with every image it runs taken from `registry`'s stand-ins (the node
 * tests cannot pull from Docker Hub, nor download the shop's code from GitHub). Shared by production-standin (the
 * node suite) and by the quick-start test's `local` (environments/index.ts, `LOCAL_STANDIN_REGISTRY`), so that the
 * two tests swap exactly the same things:
 * - go-ok, its nginx TLS proxy and hashgenerator: the stand-in images;
 * - the shop: images built by `npm run images:build` (code source `prebuilt-image`) instead of its code fetched
 *   at start, so its pods need no internet egress;
 * - the sealed-secrets controller, where this repository deploys it: the real controller built from its module.
 * `test/production-standin.test.ts` pins every JSON path it changes, for both.
 */
export function withStandinImages(base: EnvironmentConfig, registry: string): EnvironmentConfig {
  const images = standinImages(registry);
  const ctl = base.sealedSecretsController;
  return {
    ...base,
    goOk: { ...base.goOk, image: images.goOk, tlsProxyImage: images.nginx },
    hashgenerator: { ...base.hashgenerator, image: images.hashgenerator },
    shop: {
      ...base.shop,
      codeSource: { kind: 'prebuilt-image', repository: images.shopRepository, tag: SHOP_STANDIN_TAG, workingDir: '/app' },
    },
    ...(ctl?.deployedBy === 'this-repository' ? { sealedSecretsController: { ...ctl, image: images.sealedSecretsController } } : {}),
  };
}

/**
 * Production's model with its images swapped for stand-ins built on this machine (production pins docker.io
 * digests that cannot be pulled here), derived from `production` in code so that it cannot drift from it. What the
 * node suite proves with it is production's manifests and wiring, not the upstream programs.
 *
 * Everything else is production's, with these differences, each forced by the test cluster:
 * - images: `withStandinImages`, each pinned by digest through the image lock exactly as production's are; no
 *   exceptions (production's two tag exceptions are for images that are not locked yet: these all are);
 * - SealedSecrets are sealed for the test cluster's controller (`sealing/production-standin.pem`): production's
 *   private key is, rightly, not here;
 * - no GitOps: the push deploy (`npm run deploy`) applies it; the test cluster has no route to production's git.
 * It is written to the git-ignored `dist-local/` and only when asked for
 * (`SYNTH_ENVIRONMENTS=production-standin STANDIN_REGISTRY=<host:port>`).
 */
export function productionWithStandins(base: EnvironmentConfig, registry: string): EnvironmentConfig {
  const swapped = withStandinImages(base, registry);
  const sealedHere = { kind: 'sealed', environment: PRODUCTION_STANDIN } as const;
  const { gitops: _noGitops, ...platform } = base.platform ?? {};
  return {
    ...swapped,
    name: PRODUCTION_STANDIN,
    outputRoot: 'dist-local',
    synthByDefault: false,
    platform: { ...platform, imagePinning: { exceptions: {} } },
    goOk: { ...swapped.goOk, tlsSecret: sealedHere },
    shop: { ...swapped.shop, gatewayIngress: base.shop.gatewayIngress && { ...base.shop.gatewayIngress, tlsSecret: sealedHere } },
  };
}

export const productionStandin: EnvironmentConfig =
  productionWithStandins(production, process.env.STANDIN_REGISTRY || DEFAULT_REGISTRY);
