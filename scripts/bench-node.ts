/**
 * `npm run bench:node` (root): what a deploy of production's model costs on a real node, ours beside plain kubectl
 * on the same cluster in the same run. Numbers, never assertions. It runs the production node suite
 * (test/cluster/production-node.sh) with NODE_BENCH=1, which adds one step at its end: the three namespaces deleted,
 * then the same manifests applied by plain `kubectl apply --server-side` and waited for with `kubectl wait`.
 * The rows:
 *   - empty cluster (node, platform and stand-in images ready) to every production pod Ready: `npm run deploy --
 *     production-standin --wait` (synth, checks, SealedSecrets verified, staged apply, rollouts) vs plain kubectl;
 *   - a no-op re-deploy vs plain `kubectl apply --server-side --dry-run=server` of the same files;
 *   - the suite's other figures (node up, stand-ins pushed and locked, platform Ready, teardown), for context.
 * Then the quick-start suite (test/cluster/quickstart-node.sh) with NODE_BENCH=1: the newcomer's wait, from an empty
 * cluster (node, Ingress controller and stand-in images ready) to go-ok answering at http://local.imti.cloud/, by
 * `npm run bootstrap -- local` (controller, certificate, values, seal, synth, verify, deploy, rollout waits) vs plain
 * `kubectl apply` of the dist/local/ the bootstrap left (already sealed: the plain tool skips the controller's
 * certificate and the sealing), with where the bootstrap's time went, step by step.
 * Only one node runs per machine: each suite waits for /tmp/k8s-infra-node.flock.
 */
import { spawn } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..');
const suites = {
  production: path.join(root, 'test/cluster/production-node.sh'),
  quickstart: path.join(root, 'test/cluster/quickstart-node.sh'),
};

function run(suite: string): Promise<{ code: number; measures: string[] }> {
  return new Promise((resolve) => {
    const child = spawn('flock', ['/tmp/k8s-infra-node.flock', 'bash', suite], {
      cwd: root, env: { ...process.env, NODE_BENCH: '1' }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const measures: string[] = [];
    let rest = '';
    child.stdout.on('data', (d: Buffer) => {
      rest += d.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        process.stdout.write(`${l}\n`);
        const m = /^\s*MEASURE: (.*)$/.exec(l);
        if (m) measures.push(m[1]);
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, measures }));
  });
}

/** The first number (ms, or s converted to ms) in the MEASURE line that matches. */
function ms(measures: string[], re: RegExp): number | undefined {
  const line = measures.find((m) => re.test(m));
  const n = line && /(\d+(?:\.\d+)?)\s*(ms|s)\b/.exec(line.replace(re, ''));
  if (!n) return undefined;
  return Number(n[1]) * (n[2] === 's' ? 1000 : 1);
}

async function main(): Promise<void> {
  const { code: prodCode, measures: prod } = await run(suites.production);
  const { code: qsCode, measures: qs } = await run(suites.quickstart);
  const code = prodCode || qsCode;
  const measures = [...prod, ...qs];
  const rows: [string, number | undefined, number | undefined][] = [
    ['empty cluster to every production pod Ready', ms(measures, /^npm run deploy \(synth, checks, apply\) to every production pod Ready: /),
      ms(measures, /^plain kubectl apply --server-side to every production pod Ready: /)],
    ['no-op re-deploy', ms(measures, /^no-op re-deploy \(npm run deploy: synth, checks, apply\): /),
      ms(measures, /^plain kubectl apply --server-side --dry-run=server of the same manifests: /)],
    ['quick start: empty cluster to go-ok answering at its host (ours: npm run bootstrap -- local)',
      ms(measures, /^empty cluster to go-ok answering at http:\/\/local\.imti\.cloud\/ \(the newcomer's wait\): /),
      ms(measures, /^plain kubectl apply of dist\/local\/ to go-ok answering at http:\/\/local\.imti\.cloud\/: /)],
  ];
  const f = (v?: number) => (v === undefined ? 'n/a' : `${(v / 1000).toFixed(1)} s`);
  console.log('\n| on the node (one run) | ours (npm run deploy; the quick start: npm run bootstrap) | plain kubectl | ours/kubectl |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [what, ours, plain] of rows) {
    console.log(`| ${what} | ${f(ours)} | ${f(plain)} | ${ours && plain ? (ours / plain).toFixed(2) : 'n/a'} |`);
  }
  console.log('\ncontext:');
  for (const m of measures.filter((x) => /node, CoreDNS and registry Ready|pushed and locked|platform .* Ready|teardown/.test(x))) console.log(`  ${m}`);
  console.log('\nwhere the quick start\'s time went (seconds since npm run bootstrap -- local started):');
  for (const m of qs.filter((x) => /^at /.test(x))) console.log(`  ${m}`);
  if (prodCode !== 0) console.log(`\nthe production suite exited ${prodCode}: read the FAIL lines above before trusting a figure`);
  if (qsCode !== 0) console.log(`\nthe quick-start suite exited ${qsCode}: read the FAIL lines above before trusting a figure`);
  process.exit(code === 0 ? 0 : 1);
}

void main();
