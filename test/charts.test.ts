import { selectEnvironments } from '../environments/app';
import { synthEnvironment } from './support';

// "Did the output change": one snapshot per chart and environment. Correctness is asserted in
// behaviour.test.ts and by the schema, linters and API server.
describe.each(selectEnvironments('').map((e) => [e.name, e] as const))('environment %s', (_name, env) => {
  const charts = synthEnvironment(env);
  test.each(Object.keys(charts))('chart %s', (chart) => {
    expect(charts[chart]).toMatchSnapshot();
  });
});
