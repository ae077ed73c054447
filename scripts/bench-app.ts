/**
 * A generated app of BENCH_SERVICES web services (default 100), for `npm run bench`: how synth time grows with
 * the size of the model. Same constructs as the real charts, and the same path as main.ts run by synth/synth.js:
 * bundled by synth/run-app.js, written by synthApp, validated from memory at both Kubernetes versions (skipped
 * when these exact objects passed before), and moved into `$SYNTH_TARGET_ROOT/dist/bench/` by rename.
 * BENCH_VARIANT changes every object (an annotation), so the bench can measure a synth after an edit.
 */
import * as path from 'path';
import { App } from 'cdk8s';
import { AppChart } from '../lib/core/app-chart';
import { AppNamespace } from '../lib/core/app-namespace';
import { projectRoot } from '../lib/core/project-root';
import * as probes from '../lib/workloads/probes';
import { RESTRICTED } from '../lib/workloads/security';
import { WebService } from '../lib/workloads/web-service';
import { SchemaValidator, assertSchemaValid } from '../synth/schema-validation';
import { replaceFolder, synthApp } from '../synth/synth-output';

export function buildBenchApp(count: number, outdir: string, variant?: string): App {
  const app = new App({ outdir, outputFileExtension: '.k8s.yaml' });
  const chart = new AppChart(app, 'bench', { partOf: 'bench' });
  new AppNamespace(chart, 'Namespace', { name: 'bench' });
  let previous: WebService | undefined;
  for (let i = 0; i < count; i++) {
    const name = `svc-${i}`;
    previous = new WebService(chart, name, {
      name,
      namespace: 'bench',
      identity: { name, component: 'server', version: '1.0.0' },
      containers: [{
        name,
        image: 'registry.example.com/bench:1.0.0',
        port: { name: 'http', number: 8080 },
        args: previous ? [previous.address] : [],
        readiness: probes.httpGet('/healthz', 8080),
        liveness: probes.tcp(8080),
        resources: {
          cpu: { request: '10m', limit: '100m' },
          memory: { request: '16Mi', limit: '64Mi' },
          ephemeralStorage: { request: '8Mi', limit: '64Mi' },
        },
        security: RESTRICTED,
      }],
    });
  }
  if (variant) for (const o of chart.apiObjects) o.metadata.addAnnotation('bench/variant', variant);
  return app;
}

export function main(): void {
  const target = process.env.SYNTH_TARGET_ROOT;
  if (!target) throw new Error('bench-app: set SYNTH_TARGET_ROOT (it promotes into $SYNTH_TARGET_ROOT/dist/bench/)');
  const staging = path.resolve(process.env.CDK8S_OUTDIR ?? '.cdk8s.out');
  const project = projectRoot();
  const dir = path.join(staging, 'bench');
  const app = buildBenchApp(Number(process.env.BENCH_SERVICES ?? 100), dir, process.env.BENCH_VARIANT);
  const manifests = synthApp(app);
  const validator = new SchemaValidator(path.join(project, 'schemas'), path.join(project, '.cache', 'schema-validators'));
  assertSchemaValid(validator, manifests.flatMap((m) => m.objects.map((object) => ({ file: m.file, object }))), 'the bench app');
  replaceFolder(dir, path.join(path.resolve(target), 'dist', 'bench'), { move: true });
}
