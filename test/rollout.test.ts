import { Testing } from 'cdk8s';
import { selectEnvironments } from '../environments/app';
import { AppChart } from '../lib/core';
import { AppDeployment, RESTRICTED } from '../lib/workloads';
import { K8sObject, allObjects, matches } from './support';

// Rollouts and re-applies that do exactly what they say (issue: db never doubled, a quiet re-apply).

/** A Deployment that asks to be single-instance, as the construct marks it. */
const isSingleInstance = (d: K8sObject) => d.metadata.annotations?.['kube-score/ignore']?.split(',').includes('deployment-replicas') ?? false;

describe.each(selectEnvironments('').map((e) => [e.name, e] as const))('environment %s', (_name, env) => {
  const objects = allObjects(env);
  const of = (kind: string) => objects.filter((o) => o.kind === kind);

  test('db is single-instance: one replica, Recreate, no PDB, no HPA', () => {
    const single = of('Deployment').filter(isSingleInstance);
    expect(single.map((d) => d.metadata.name)).toContain('db');
    for (const d of single) {
      expect([d.metadata.name, d.spec.replicas, d.spec.strategy]).toEqual([d.metadata.name, 1, { type: 'Recreate' }]);
      expect(d.metadata.annotations!['kube-score/ignore-reason']).toMatch(d.metadata.name === 'db' ? /in memory/ : /\w/);
      const sel = d.spec.selector.matchLabels;
      const pdbs = of('PodDisruptionBudget').filter((p) => p.metadata.namespace === d.metadata.namespace && matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdbs).toEqual([]);
      expect(of('HorizontalPodAutoscaler').filter((h) => h.spec.scaleTargetRef.name === d.metadata.name)).toEqual([]);
      expect(sel).toBeDefined();
    }
  });

  test('every other Deployment rolls (RollingUpdate), so a rollout keeps serving', () => {
    for (const d of of('Deployment').filter((x) => !isSingleInstance(x))) expect([d.metadata.name, d.spec.strategy.type]).toEqual([d.metadata.name, 'RollingUpdate']);
  });

  // The API server drops omitempty zero values; a manifest that carries them makes client-side apply re-send
  // them on every run ("configured"). The cluster suite checks the real thing; this is the fast first line.
  test('no field the server stores as absent (minReadySeconds 0, hostNetwork false, readOnly false, empty args)', () => {
    const found: string[] = [];
    const walk = (v: any, where: string) => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${i}`));
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'minReadySeconds' && x === 0) || (['hostNetwork', 'hostPID', 'hostIPC', 'readOnly'].includes(k) && x === false)
            || (['args', 'command'].includes(k) && Array.isArray(x) && x.length === 0)) found.push(`${where}/${k}`);
          walk(x, `${where}/${k}`);
        }
      }
    };
    for (const o of objects) walk(o, `${o.kind}/${o.metadata.name}`);
    expect(found).toEqual([]);
  });

  test('Services target container ports by name', () => {
    for (const s of of('Service')) for (const p of s.spec.ports) expect([s.metadata.name, typeof p.targetPort]).toEqual([s.metadata.name, 'string']);
  });
});

describe('AppDeployment single instance', () => {
  const make = (extra: object) => {
    const chart = new AppChart(Testing.app(), 'c', { partOf: 'x' });
    new AppDeployment(chart, 'db', {
      name: 'db', namespace: 'ns', identity: { name: 'db', component: 'database', version: '1' },
      singleInstanceReason: 'keeps its data in memory',
      containers: [{ name: 'db', image: 'db:1', resources: { cpu: { request: '1m', limit: '1m' }, memory: { request: '1Mi', limit: '1Mi' }, ephemeralStorage: { request: '1Mi', limit: '1Mi' } }, security: RESTRICTED }],
      ...extra,
    });
    return Testing.synth(chart) as K8sObject[];
  };

  test('with highAvailability asked for, still no PDB and no spread: a one-pod budget would block every drain', () => {
    const objs = make({ highAvailability: true });
    expect(objs.map((o) => o.kind).sort()).toEqual(['Deployment']);
    expect(objs[0].spec.template.spec.affinity).toBeUndefined();
    expect(objs[0].spec.strategy).toEqual({ type: 'Recreate' });
  });

  test.each([
    ['autoscaling', { autoscaling: { minReplicas: 2, maxReplicas: 4, cpuUtilization: 80 } }, /c\/db: invalid autoscaling .*: must be unset for a single-instance workload: keeps its data in memory/],
    ['replicas', { replicas: 2 }, /c\/db: invalid replicas 2: must be exactly 1: keeps its data in memory/],
    ['an empty reason', { singleInstanceReason: ' ' }, /c\/db: invalid singleInstanceReason " ": must be a non-empty string/],
  ])('%s is an error naming the field', (_n, extra, message) => {
    expect(() => make(extra)).toThrow(message);
  });

  test('an ordinary Deployment keeps RollingUpdate', () => {
    const chart = new AppChart(Testing.app(), 'c', { partOf: 'x' });
    new AppDeployment(chart, 'web', {
      name: 'web', namespace: 'ns', identity: { name: 'web', component: 'web', version: '1' }, replicas: 2,
      containers: [{ name: 'web', image: 'web:1', resources: { cpu: { request: '1m', limit: '1m' }, memory: { request: '1Mi', limit: '1Mi' }, ephemeralStorage: { request: '1Mi', limit: '1Mi' } }, security: RESTRICTED }],
    });
    expect((Testing.synth(chart)[0] as K8sObject).spec.strategy.type).toBe('RollingUpdate');
  });
});
