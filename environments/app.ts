import { App } from 'cdk8s';
import { GitOpsChart } from '../charts/gitops';
import { GoOkChart } from '../charts/go-ok';
import { HashGeneratorChart } from '../charts/hashgenerator';
import { PlatformChart } from '../charts/platform';
import { ShopChart } from '../charts/shop';
import { PLATFORM_KEYS } from '../lib/core/platform';
import { usePlatform } from '../lib/core/platform-rules';
import { projectRoot } from '../lib/core/project-root';
import { whileBuilding } from '../lib/core/errors';
import * as v from '../lib/core/validation';
import { applyImagePinning } from '../lib/workloads/image-lock';
import { ENVIRONMENTS, ENVIRONMENT_KEYS, EnvironmentConfig } from '.';

// The model: an environment's config in, its App of charts out. It knows nothing of how the App is synthesized
// (main.ts and synth/ do that), so the deploy tools (deploy/seal.ts, deploy/bootstrap.ts) and the tests can import
// it without loading the synth.

/** Builds one environment's charts into an App writing to `outdir`. */
export function buildApp(env: EnvironmentConfig, outdir: string): App {
  const app = new App({ outdir, outputFileExtension: '.k8s.yaml' });
  v.knownKeys(app, `environment "${env.name}"`, env, ENVIRONMENT_KEYS);
  v.dnsLabel(app, 'environment name', env.name);
  const platform = env.platform ?? {};
  v.knownKeys(app, `environment "${env.name}".platform`, platform, PLATFORM_KEYS);
  whileBuilding(app, () => {
    usePlatform(app, platform);
    applyImagePinning(app, platform.imagePinning, projectRoot());
    // First: the other charts put their Namespaces into it (lib/core/app-namespace.ts).
    const gitops = platform.gitops ? new GitOpsChart(app, 'flux', { environment: env.name, config: platform.gitops }) : undefined;
    new GoOkChart(app, 'go-ok', env.goOk);
    new HashGeneratorChart(app, 'hashgenerator', env.hashgenerator);
    new ShopChart(app, 'shop', env.shop);
    if (env.sealedSecretsController?.deployedBy === 'this-repository') new PlatformChart(app, 'platform', env.sealedSecretsController);
    gitops?.grantReconciler(app);
  });
  return app;
}

/** The environments to synthesize: `SYNTH_ENVIRONMENTS=a,b`, or every one that is synthesized by default. */
export function selectEnvironments(spec = process.env.SYNTH_ENVIRONMENTS): readonly EnvironmentConfig[] {
  if (!spec) return ENVIRONMENTS.filter((e) => e.synthByDefault ?? true);
  return spec.split(',').map((name) => {
    const env = ENVIRONMENTS.find((e) => e.name === name.trim());
    if (!env) throw new Error(`SYNTH_ENVIRONMENTS: unknown environment "${name}"; known: ${ENVIRONMENTS.map((e) => e.name).join(', ')}`);
    return env;
  });
}
