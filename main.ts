import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import { GoOkChart } from './charts/go-ok';
import { HashGeneratorChart } from './charts/hashgenerator';
import { ShopChart } from './charts/shop';
import { ENVIRONMENTS, EnvironmentConfig } from './environments';

/** Builds one environment's charts into an App writing to `outdir`. */
export function buildApp(env: EnvironmentConfig, outdir: string): App {
  const app = new App({ outdir, outputFileExtension: '.k8s.yaml' });
  new GoOkChart(app, 'go-ok', env.goOk);
  new HashGeneratorChart(app, 'hashgenerator', env.hashgenerator);
  new ShopChart(app, 'shop', env.shop);
  return app;
}

export function main(): void {
  // `cdk8s synth` passes its output folder in CDK8S_OUTDIR; each environment gets a folder of its own.
  const root = process.env.CDK8S_OUTDIR ?? 'dist';
  for (const env of ENVIRONMENTS) {
    const outdir = path.join(root, env.name);
    fs.rmSync(outdir, { recursive: true, force: true });
    buildApp(env, outdir).synth();
  }
}

if (require.main === module) main();
