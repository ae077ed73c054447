import { ENVIRONMENTS } from '../environments';
import { production } from '../environments/production';
import { local } from '../environments/local';
import { PRODUCTION_STANDIN, productionWithStandins, standinImages, withStandinImages } from '../environments/production-standin';
import { SEALED_SECRETS_VERSION } from '../lib/platform/sealed-secrets-controller';
import { K8sObject, allObjects, podTemplates, synthEnvironment } from './support';

// production-standin is what the node suite (test/cluster/production-node.sh) deploys. It must be production with
// only its images swapped: everything a user of production relies on (security contexts, probes, policies,
// disruption budgets, the autoscaler) has to be what runs on the test node. These tests pin down every difference.

const REGISTRY = 'registry.test:5000';
const derived = productionWithStandins(production, REGISTRY);

/** Both environments built without image pinning (the stand-ins' lock only exists in the test cluster). */
function objects(env: typeof production): Map<string, K8sObject> {
  const unpinned = { ...env, platform: { ...env.platform, imagePinning: undefined } };
  return new Map(allObjects(unpinned).map((o) => [`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
}

/** The JSON paths (indices as [n]) where a and b differ. */
function differences(a: unknown, b: unknown, at = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) => differences((a as any)[k], (b as any)[k], Array.isArray(a) ? `${at}[${k}]` : `${at}.${k}`));
  }
  return [at];
}

/**
 * Every path where `after`'s objects differ from `before`'s: those no `allowed` pattern admits (`unexpected`), and
 * all of them with indices as [n], by kind (`seen`, snapshotted so a new one shows up in review).
 */
function differencesOutside(before: Map<string, K8sObject>, after: Map<string, K8sObject>, allowed: readonly RegExp[]) {
  const unexpected: string[] = [];
  const seen = new Set<string>();
  for (const [key, o] of after) {
    for (const p of differences(before.get(key), o)) {
      seen.add(`${o.kind}: ${p.replace(/\[\d+\]/g, '[n]')}`);
      if (!allowed.some((re) => re.test(p))) unexpected.push(`${key} ${p}`);
    }
  }
  return { unexpected, seen: [...seen].sort() };
}

describe('production-standin: production with only the images swapped', () => {
  const prod = objects(production);
  // The sealed files are made by the node suite; here the derived model reads production's, to compare the rest.
  const standin = objects({
    ...derived,
    goOk: { ...derived.goOk, tlsSecret: production.goOk.tlsSecret },
    shop: { ...derived.shop, gatewayIngress: production.shop.gatewayIngress },
  });

  test('it is an environment of its own, synthesized only on request into the git-ignored dist-local/', () => {
    const env = ENVIRONMENTS.find((e) => e.name === PRODUCTION_STANDIN)!;
    expect(env).toMatchObject({ outputRoot: 'dist-local', synthByDefault: false });
    expect(env.platform?.imagePinning).toEqual({ exceptions: {} }); // every stand-in by digest, no tag exceptions
  });

  test('its platform is production\'s, without GitOps (the push deploy applies it on the test cluster)', () => {
    const { gitops, imagePinning: _p, ...rest } = production.platform!;
    expect(gitops).toBeDefined();
    const { imagePinning: _d, ...derivedRest } = derived.platform!;
    expect(derivedRest).toEqual(rest);
    expect(derived.sealedSecretsController).toEqual(production.sealedSecretsController);
  });

  test('the same objects, but the GitOps chart\'s', () => {
    const unpinned = { ...production, platform: { ...production.platform, imagePinning: undefined } };
    const gitopsChart = new Set(synthEnvironment(unpinned).flux.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`));
    const missing = [...prod.keys()].filter((k) => !standin.has(k));
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.filter((k) => !gitopsChart.has(k))).toEqual([]);
    expect([...standin.keys()].filter((k) => !prod.has(k))).toEqual([]);
  });

  test('each object differs only in images, the shop\'s code source, and what that source needs', () => {
    const allowed = [
      // every container's image
      /^\.spec(\.template\.spec)?\.containers\[\d+\]\.image$/,
      // the shop: a prebuilt image instead of fetching its code at init (no init container, no code volume)
      /^\.spec\.template\.spec\.(initContainers|volumes)(\[\d+\].*)?$/,
      /^\.spec\.template\.spec\.containers\[0\]\.volumeMounts(\[\d+\].*)?$/,
      // ... and so no HTTPS egress to the internet
      /^\.spec\.egress\[\d+\].*$/,
      // the version label follows the image tag (go-ok's) or the code's commit
      /^\.(spec\.template\.)?metadata\.labels\.app\.kubernetes\.io\/version$/,
    ];
    const { unexpected, seen } = differencesOutside(prod, standin, allowed);
    expect(unexpected).toEqual([]);
    // Every difference seen is listed here, so a new one shows up in review.
    expect(seen).toMatchSnapshot();
  });

  test('every image is a stand-in from the registry; the shop\'s come from images:build', () => {
    const images = standinImages(REGISTRY);
    const used = new Set([...standin.values()].flatMap((o) => podTemplates([o])).flatMap((p) => p.spec.containers.map((c: any) => c.image)));
    expect([...used].sort()).toEqual([
      images.goOk, images.hashgenerator, images.nginx,
      ...['api-gateway', 'db', 'order-service', 'payment-service'].map((s) => `${images.shopRepository}/${s}:8ec0446`),
    ].sort());
  });

  test('the SealedSecrets are sealed for the test cluster\'s controller, not production\'s', () => {
    expect(derived.goOk.tlsSecret).toEqual({ kind: 'sealed', environment: PRODUCTION_STANDIN });
    expect(derived.shop.gatewayIngress?.tlsSecret).toEqual({ kind: 'sealed', environment: PRODUCTION_STANDIN });
  });
});

// The quick-start test (test/cluster/quickstart-node.sh) runs `npm run bootstrap -- local` with
// LOCAL_STANDIN_REGISTRY set: `local` with the same swap (withStandinImages), and nothing else changed.
describe('local with the stand-ins: the quick-start test\'s swap, and only that', () => {
  const swapped = withStandinImages(local, REGISTRY);
  const before = objects(local);
  const after = objects(swapped);

  test('the same environment (name, output, platform, secrets), the same objects', () => {
    expect(swapped.name).toBe('local');
    expect(swapped.outputRoot).toBe(local.outputRoot);
    expect(swapped.platform).toBe(local.platform);
    expect(swapped.goOk.tlsSecret).toBe(local.goOk.tlsSecret);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  });

  test('the objects differ only in images, the shop\'s code source and what it needs', () => {
    const allowed = [
      /^\.spec(\.template\.spec)?\.containers\[\d+\]\.image$/,
      /^\.spec\.template\.spec\.(initContainers|volumes)(\[\d+\].*)?$/,
      /^\.spec\.template\.spec\.containers\[0\]\.(volumeMounts|workingDir|command|args)(\[\d+\].*)?$/,
      /^\.(spec\.template\.)?metadata\.labels\.app\.kubernetes\.io\/version$/,
      // the shop's code source brings its own user and start-up budget: download-at-start runs as the image's root
      // (apk and npm install at start, 5 min), a prebuilt image as UID 10001 with a read-only root (1 min)
      /^\.spec\.template\.spec\.(containers\[0\]\.)?securityContext\..*$/,
      /^\.spec\.template\.spec\.containers\[0\]\.startupProbe\.failureThreshold$/,
    ];
    const { unexpected, seen } = differencesOutside(before, after, allowed);
    expect(unexpected).toEqual([]);
    expect(seen).toMatchSnapshot();
  });

  test('every image is a stand-in, the controller the one built from its pinned module', () => {
    const images = standinImages(REGISTRY);
    const used = new Set([...after.values()].flatMap((o) => podTemplates([o])).flatMap((p) => p.spec.containers.map((c: any) => c.image)));
    expect([...used].sort()).toEqual([
      images.goOk, images.hashgenerator, images.nginx, images.sealedSecretsController,
      ...['api-gateway', 'db', 'order-service', 'payment-service'].map((s) => `${images.shopRepository}/${s}:8ec0446`),
    ].sort());
    expect(images.sealedSecretsController).toMatch(new RegExp(`:v${SEALED_SECRETS_VERSION}$`));
  });

  test('production-standin uses the same swap', () => {
    const viaSwap = withStandinImages(production, REGISTRY);
    expect(derived.goOk.image).toBe(viaSwap.goOk.image);
    expect(derived.goOk.tlsProxyImage).toBe(viaSwap.goOk.tlsProxyImage);
    expect(derived.hashgenerator).toEqual(viaSwap.hashgenerator);
    expect(derived.shop.codeSource).toEqual(viaSwap.shop.codeSource);
  });
});
