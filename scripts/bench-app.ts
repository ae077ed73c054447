/**
 * A generated app of BENCH_SERVICES web services (default 100), for `npm run bench`: how synth time grows with
 * the size of the model. Same constructs as the real charts.
 */
import { App } from 'cdk8s';
import { AppChart } from '../lib/core/app-chart';
import { AppNamespace } from '../lib/core/app-namespace';
import * as probes from '../lib/workloads/probes';
import { RESTRICTED } from '../lib/workloads/security';
import { WebService } from '../lib/workloads/web-service';

const count = Number(process.env.BENCH_SERVICES ?? 100);
const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist-bench', outputFileExtension: '.k8s.yaml' });
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
app.synth();
