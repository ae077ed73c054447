/**
 * For `npm run bench`: what drawing docs/environments/<env>.md adds to synth (synth/diagram.ts, in process, on the
 * already built Apps of the committed environments): the first call, as one synth pays it, and the median after.
 */
import * as os from 'os';
import { buildApp, selectEnvironments } from '../environments/app';
import { environmentDoc } from '../synth/diagram';

export function docsGenerationSeconds(runs: number): { first: number; median: number } {
  const apps = selectEnvironments().filter((e) => (e.outputRoot ?? 'dist') === 'dist').map((env) => ({ env, app: buildApp(env, os.tmpdir()) }));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    for (const { env, app } of apps) environmentDoc(env.name, app, env.platform);
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { first: times[0], median: sorted[Math.floor(sorted.length / 2)] };
}
