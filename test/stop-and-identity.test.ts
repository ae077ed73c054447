import { Testing } from 'cdk8s';
import { ENVIRONMENTS } from '../environments';
import { AppDeployment, AppPod, EnvVar, IMAGE_ROOT, RESTRICTED } from '../lib/workloads';
import { AppChart, kplus } from '../lib/core';
import { podTemplates, synthEnvironment } from './support';

// Issue 21, seen on a real node: the Node programs install no SIGTERM handler and, as PID 1, outlived every stop
// until SIGKILL; go-ok reported empty identity fields because nothing set them from the downward API.

/** The charts whose programs are node without a SIGTERM handler (the shop's four services, hashgenerator). */
const NODE_CHARTS = ['shop', 'hashgenerator'];
const GO_OK_IDENTITY: Record<string, string> = {
  NODE_NAME: 'spec.nodeName',
  POD_NAME: 'metadata.name',
  POD_NAMESPACE: 'metadata.namespace',
  POD_IP: 'status.podIP',
  SERVICE_ACCOUNT: 'spec.serviceAccountName',
};

/**
 * Every environment a plain synth builds (what dist/ holds). The others need inputs a fresh clone lacks (local-plain:
 * git-ignored plain Secret files; production-standin: a registry's image lock), and take their charts' config from
 * one of these (local-plain is `local`, production-standin is `production` with other images).
 */
const BUILT_BY_DEFAULT = ENVIRONMENTS.filter((e) => e.synthByDefault ?? true);

describe.each(BUILT_BY_DEFAULT.map((e) => [e.name, e] as const))('environment %s', (_name, env) => {
  const charts = synthEnvironment(env);

  test('every node workload pod shares its PID namespace, so node is not PID 1 and SIGTERM stops it', () => {
    const pods = NODE_CHARTS.flatMap((c) => podTemplates(charts[c]));
    expect(pods.map((p) => p.owner.metadata.name).sort()).toEqual(['api-gateway', 'db', 'hashgenerator-dep', 'order-service', 'payment-service']);
    for (const p of pods) expect({ pod: p.owner.metadata.name, share: p.spec.shareProcessNamespace }).toEqual({ pod: p.owner.metadata.name, share: true });
  });

  test('the grace period stays the default 30 s (the fix is a prompt exit, not a shorter wait)', () => {
    for (const p of Object.values(charts).flatMap(podTemplates)) {
      expect({ pod: p.owner.metadata.name, grace: p.spec.terminationGracePeriodSeconds }).toEqual({ pod: p.owner.metadata.name, grace: 30 });
    }
  });

  test('go-ok and nginx handle SIGTERM themselves: the go-ok pods keep a PID namespace per container', () => {
    for (const p of podTemplates(charts['go-ok'])) expect(p.spec.shareProcessNamespace).toBeUndefined();
  });

  test('go-ok\'s container, in the Deployment and the declared Pod, gets its identity from the downward API', () => {
    const pods = podTemplates(charts['go-ok']);
    expect(pods.map((p) => p.owner.kind).sort()).toEqual(['Deployment', 'Pod']);
    for (const p of pods) {
      const goOk = p.spec.containers.find((c: any) => c.name === 'go-ok');
      const fieldRefs = Object.fromEntries((goOk.env ?? []).filter((e: any) => e.valueFrom?.fieldRef).map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]));
      expect({ owner: p.owner.kind, fieldRefs }).toEqual({ owner: p.owner.kind, fieldRefs: GO_OK_IDENTITY });
    }
  });
});

describe('AppPodSpec.shareProcessNamespace and field-ref env', () => {
  const base = {
    namespace: 'ns',
    identity: { name: 'x', component: 'c', version: '1' },
    containers: [{
      name: 'x', image: 'example.com/x:1', resources: { cpu: { request: '1m', limit: '1m' }, memory: { request: '1Mi', limit: '1Mi' }, ephemeralStorage: { request: '1Mi', limit: '1Mi' } },
      security: RESTRICTED,
    }],
  };
  const chart = () => new AppChart(Testing.app(), 'test', { partOf: 'test' });

  test('unset: no shareProcessNamespace in the pod, and the construct says false', () => {
    const scope = chart();
    const d = new AppDeployment(scope, 'd', { ...base, name: 'd' });
    expect(d.shareProcessNamespace).toBe(false);
    const out = Testing.synth(scope) as any[];
    expect(out.find((o) => o.kind === 'Deployment').spec.template.spec.shareProcessNamespace).toBeUndefined();
  });

  test('set: rendered on a Deployment and on a Pod', () => {
    const scope = chart();
    const d = new AppDeployment(scope, 'd', { ...base, name: 'd', shareProcessNamespace: true });
    const p = new AppPod(scope, 'p', { ...base, name: 'p', selectorLabels: { app: 'p' }, shareProcessNamespace: true });
    expect([d.shareProcessNamespace, p.shareProcessNamespace]).toEqual([true, true]);
    const out = Testing.synth(scope) as any[];
    expect(out.find((o) => o.kind === 'Deployment').spec.template.spec.shareProcessNamespace).toBe(true);
    expect(out.find((o) => o.kind === 'Pod').spec.shareProcessNamespace).toBe(true);
  });

  test('a field-ref env var renders as valueFrom.fieldRef, in order with literals', () => {
    const env: EnvVar[] = [{ name: 'A', value: '1' }, { name: 'POD_NAME', fieldRef: kplus.EnvFieldPaths.POD_NAME }];
    const scope = chart();
    new AppDeployment(scope, 'd', { ...base, name: 'd', containers: [{ ...base.containers[0], security: IMAGE_ROOT, env }] });
    const c = (Testing.synth(scope) as any[]).find((o) => o.kind === 'Deployment').spec.template.spec.containers[0];
    expect(c.env).toEqual([{ name: 'A', value: '1' }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
  });

  test('a field path that needs a key (labels, annotations) is a synth-time error naming the field', () => {
    const env: EnvVar[] = [{ name: 'L', fieldRef: kplus.EnvFieldPaths.POD_LABEL }];
    expect(() => new AppDeployment(chart(), 'd', { ...base, name: 'd', containers: [{ ...base.containers[0], env }] }))
      .toThrow(/container "x" env "L" fieldRef.*metadata\.labels.*must be one of/);
  });
});
