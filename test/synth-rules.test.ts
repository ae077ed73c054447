import { ApiObject, Duration, JsonPatch, Lazy, Testing } from 'cdk8s';
import { EnvironmentConfig } from '../environments';
import { local } from '../environments/local';
import { production } from '../environments/production';
import { AppChart, kplus, usePlatform } from '../lib/core';
import { AppContainerSpec, AppDeployment, probes, RESTRICTED, WebService } from '../lib/workloads';
import { checkEnvironment } from '../main';
import { checkEscapeHatches } from '../synth/escape-hatches';
import { whileBuilding } from '../lib/core/errors';
import { withinEnvironment } from '../synth/errors';

// Every rule enforced where the value is written, at synth time. Each row: a bad input as a user would write it,
// and a message that names the environment, the construct path and the field (the format
// `[<env>] <construct path>: invalid <field> <value>: <allowed>`).

const prod = (over: Partial<EnvironmentConfig>) => checkEnvironment({ ...production, ...over });
const goOk = (over: object) => prod({ goOk: { ...production.goOk, ...over } });
const platform = (over: object) => prod({ platform: { ...production.platform, ...over } });
const controller = (over: object) => platform({ networkPolicies: { ingressController: { ...production.platform!.networkPolicies!.ingressController, ...over } } });
// A new environment with production's platform settings and the tutorial's charts: protected just the same.
const staging = (): EnvironmentConfig => ({ ...local, name: 'staging', platform: production.platform });

const container: AppContainerSpec = {
  name: 'web', image: 'registry.example.com/web:1.2.3', port: { name: 'http', number: 8080 },
  resources: { cpu: { request: '10m', limit: '100m' }, memory: { request: '16Mi', limit: '64Mi' }, ephemeralStorage: { request: '8Mi', limit: '64Mi' } },
  security: RESTRICTED,
};
/** Runs `build` as main.ts runs an environment named `unit`: errors located, and prefixed with the environment. */
const unit = (build: () => void) => () => withinEnvironment('unit', build);
/** A WebService in the `unit` environment, with the given platform. */
const web = (c: Partial<AppContainerSpec> = {}, props: object = {}, plat: object = {}) => unit(() => {
  const app = Testing.app();
  whileBuilding(app, () => {
    usePlatform(app, plat);
    new WebService(new AppChart(app, 'test', { partOf: 'test' }), 'web', {
      name: 'web', namespace: 'apps', identity: { name: 'web', component: 'server' }, containers: [{ ...container, ...c }], ...props,
    });
  });
})();

const rows: [string, () => unknown, RegExp][] = [
  // 1. platform settings imply rules, in every chart
  ['NodePort Service with NetworkPolicies on', () => goOk({ serviceType: kplus.ServiceType.NODE_PORT }),
    /^\[production\] go-ok: invalid config.serviceType "NodePort": must be ClusterIP/],
  ['declared Pod nodePorts with NetworkPolicies on', () => goOk({ declaredPod: { ...production.goOk.declaredPod, nodePorts: { http: 31000, https: 31443 } } }),
    /^\[production\] go-ok: invalid config.declaredPod.nodePorts .*: must be unset when platform.networkPolicies is on/],
  ['a LoadBalancer gateway with NetworkPolicies on', () => prod({ shop: { ...production.shop, gatewayServiceType: kplus.ServiceType.LOAD_BALANCER } }),
    /^\[production\] shop: invalid config.gatewayServiceType "LoadBalancer"/],
  ['a new environment with production\'s platform and NodePorts', () => checkEnvironment(staging()),
    /^\[staging\] go-ok: invalid config.serviceType "NodePort"/],
  ['one replica of a serving workload with highAvailability', () => goOk({ replicas: 1 }),
    /^\[production\] go-ok\/GoOk\/Workload: invalid replicas 1: must be at least 2: platform.highAvailability/],
  ['an autoscaler that may go down to 1 with highAvailability', () => prod({ shop: { ...production.shop, gatewayAutoscaling: { minReplicas: 1, maxReplicas: 4, cpuUtilization: 70 } } }),
    /^\[production\] shop\/api-gateway\/Workload: invalid autoscaling.minReplicas 1: must be at least 2/],
  ['a namespace below the platform\'s Pod Security level', () => goOk({ podSecurity: 'baseline' }),
    /^\[production\] go-ok\/Namespace: invalid podSecurity "baseline": must be "restricted"/],
  ['a workload in default under platform.podSecurity', () => goOk({ namespace: 'default', podSecurity: undefined }),
    /^\[production\] go-ok\/GoOk\/Workload: invalid namespace "default": must be a namespace of the model/],
  ['an Ingress without TLS where TLS is required', () => goOk({ ingress: { ...production.goOk.ingress, tlsSecretName: undefined } }),
    /^\[production\] go-ok\/Ingress: invalid tlsSecretName "none": must name the TLS Secret for go-ok.imti.cloud/],
  ['a root container under restricted', () => prod({ hashgenerator: { ...production.hashgenerator, runAs: 'image' } }),
    /^\[production\] hashgenerator\/[\w/]+: invalid container "hashgenerator" security "image-default": must be restricted/],
  ['a workload that opts out of its own ServiceAccount under dedicatedServiceAccounts', () => web({}, { replicas: 2, dedicatedServiceAccount: false }, { dedicatedServiceAccounts: true }),
    /^\[unit\] test\/web\/Workload: invalid dedicatedServiceAccount false: must be true: platform.dedicatedServiceAccounts/],
  // 2. platform and policy values get Kubernetes syntax checks
  ['an Ingress controller namespace with capitals', () => controller({ namespace: 'Ingress-Nginx' }),
    /^\[production\] \(app\): invalid platform.networkPolicies.ingressController.namespace "Ingress-Nginx": must be a DNS-1123 label/],
  ['an Ingress controller label value with a space', () => controller({ podLabels: { 'app.kubernetes.io/name': 'ingress nginx' } }),
    /^\[production\] \(app\): invalid platform.networkPolicies.ingressController.podLabels\["app.kubernetes.io\/name"\] "ingress nginx": must be a label value/],
  ['an Ingress controller selected by no label', () => controller({ podLabels: {} }),
    /^\[production\] \(app\): invalid platform.networkPolicies.ingressController.podLabels \{\}: must be a non-empty map/],
  ['an unknown Pod Security level', () => platform({ podSecurity: 'strict' }),
    /^\[production\] \(app\): invalid platform.podSecurity "strict": must be one of "privileged", "baseline", "restricted"/],
  ['a platform switch that is not a boolean', () => platform({ highAvailability: 'yes' }),
    /^\[production\] \(app\): invalid platform.highAvailability "yes": must be true or false/],
  ['a label key with two slashes', () => web({}, { selectorLabels: { 'a/b/c': 'x' } }),
    /^\[unit\] test\/web\/Workload: invalid selectorLabels key "a\/b\/c": must be a qualified name/],
  ['an annotation key with a space', () => web({}, { annotations: { 'bad key': 'x' } }),
    /^\[unit\] test\/web\/Workload: invalid annotations key "bad key": must be a qualified name/],
  // 3. probe timing
  ['a probe period of 0', () => web({ readiness: probes.tcp(8080, { periodSeconds: Duration.seconds(0) }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" readiness probe periodSeconds 0: must be a whole number at least 1: in seconds/],
  ['a timeout longer than the period', () => web({ liveness: probes.tcp(8080, { periodSeconds: Duration.seconds(5), timeoutSeconds: Duration.seconds(10) }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" liveness probe timeoutSeconds 10: must not be longer than the period \(5 s\)/],
  ['a failure threshold of 0', () => web({ readiness: probes.tcp(8080, { failureThreshold: 0 }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" readiness probe failureThreshold 0: must be a whole number at least 1/],
  ['a startup budget of 0', () => web({ startup: probes.startupTcp(8080, Duration.seconds(0)) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" startup probe failureThreshold 0: must be a whole number at least 1/],
  ['a liveness success threshold other than 1', () => web({ liveness: probes.tcp(8080, { successThreshold: 2 }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" liveness probe successThreshold 2: must be 1 for a liveness probe/],
  ['a period of 1.5 s', () => web({ readiness: probes.tcp(8080, { periodSeconds: Duration.millis(1500) }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" readiness probe periodSeconds "1 second 500 millis": must be whole seconds/],
  // 4. raw exceptions are located
  ['an untyped config that lacks a section', () => goOk({ ingress: undefined }),
    /^\[production\] go-ok[\w/]*: TypeError: .*\(while building this construct: check the values given to it\)/],
  ['a Lazy that throws when rendered', unit(() => {
    const chart = new AppChart(Testing.app(), 'c', { partOf: 'x' });
    new ApiObject(chart, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { k: Lazy.any({ produce: () => { throw new Error('no value yet'); } }) } });
    chart.toJson();
  }), /^\[unit\] c\/cm: .*no value yet \(while rendering ConfigMap cm\)/],
  // 5. escape hatches that do nothing
  ['a JSON patch adding a field the typed class does not know', unit(() => {
    const app = Testing.app();
    const chart = new AppChart(app, 'c', { partOf: 'x' });
    const d = new AppDeployment(chart, 'web', { name: 'web', namespace: 'apps', identity: { name: 'web', component: 'server' }, containers: [container] });
    ApiObject.of(d.deployment).addJsonPatch(JsonPatch.add('/spec/template/spec/hostUsersTypo', false));
    checkEscapeHatches(app);
  }), /^\[unit\] c\/web\/Resource\/Resource: invalid escape hatch add "\/spec\/template\/spec\/hostUsersTypo" on Deployment web: the patch had no effect/],
];

describe('synth-time rules', () => {
  test.each(rows)('%s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
  test('at least 20 rules are covered', () => expect(rows.length).toBeGreaterThanOrEqual(20));
});

// Valid edge values must still synthesize.
const ok: [string, () => unknown][] = [
  ['a wildcard host', () => goOk({ ingress: { ...production.goOk.ingress, host: '*.imti.cloud' } })],
  ['a 63-character namespace', () => prod({ hashgenerator: { ...production.hashgenerator, namespace: 'a'.repeat(63) } })],
  ['a digest-pinned image in the model', () => goOk({ image: `cjimti/go-ok@sha256:${'a'.repeat(64)}` })],
  ['nodePorts 30000 and 32767 in a tutorial environment', () => checkEnvironment({ ...local, goOk: { ...local.goOk, declaredPod: { nodePorts: { http: 30000, https: 32767 } } } })],
  ['a probe period of 1 s with a timeout of 1 s', () => web({ readiness: probes.tcp(8080, { periodSeconds: Duration.seconds(1), timeoutSeconds: Duration.seconds(1) }) })],
  ['a timeout equal to the period', () => web({ liveness: probes.tcp(8080, { periodSeconds: Duration.seconds(5), timeoutSeconds: Duration.seconds(5) }) })],
  ['a readiness success threshold of 2', () => web({ readiness: probes.tcp(8080, { successThreshold: 2 }) })],
  ['a JSON patch adding a field the API knows', () => {
    const app = Testing.app();
    const d = new AppDeployment(new AppChart(app, 'c', { partOf: 'x' }), 'web', { name: 'web', namespace: 'apps', identity: { name: 'web', component: 'server' }, containers: [container] });
    ApiObject.of(d.deployment).addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 3));
    checkEscapeHatches(app);
    expect((ApiObject.of(d.deployment).toJson() as any).spec.revisionHistoryLimit).toBe(3);
  }],
  ['an annotation key with a DNS prefix', () => web({}, { annotations: { 'example.com/owner': 'team a' } })],
  ['a workload under dedicatedServiceAccounts gets its own account by default', () => web({}, { replicas: 2 }, { dedicatedServiceAccounts: true })],
  ['every environment as committed', () => { checkEnvironment(production); checkEnvironment(local); }],
];

describe('positive controls', () => {
  test.each(ok)('%s', (_name, make) => {
    expect(make).not.toThrow();
  });
});
