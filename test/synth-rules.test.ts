import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, Duration, JsonPatch, Lazy, Testing } from 'cdk8s';
import { Construct } from 'constructs';
import { EnvironmentConfig } from '../environments';
import { local } from '../environments/local';
import { production } from '../environments/production';
import { AppChart, kplus, usePlatform } from '../lib/core';
import { AppContainerSpec, AppDeployment, probes, RESTRICTED, WebService } from '../lib/workloads';
import { checkEnvironment } from '../main';
import { checkEscapeHatches } from '../synth/escape-hatches';
import { whileBuilding } from '../lib/core/errors';
import { withinEnvironment } from '../synth/errors';
import { SchemaValidator, assertSchemaValid } from '../synth/schema-validation';
import { readLock } from '../images/lock';
import { applyImagePinning } from '../lib/workloads/image-lock';

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

/** A chart class whose constructor builds one WebService, then evaluates `props` for a second one (as a chart does). */
const inChart = (second: () => Partial<AppContainerSpec>) => unit(() => {
  class TestChart extends AppChart {
    constructor(scope: Construct) {
      super(scope, 'test', { partOf: 'test' });
      const ws = (id: string, c: Partial<AppContainerSpec>) => new WebService(this, id, {
        name: id, namespace: 'apps', identity: { name: id, component: 'server' }, containers: [{ ...container, ...c }],
      });
      ws('first', {});
      ws('second', second());
    }
  }
  const app = Testing.app();
  whileBuilding(app, () => new TestChart(app));
})();
/** images.lock.json with `images` in a fresh folder, read the way `read` does. */
const badLock = (read: (file: string) => unknown, images: object) => unit(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-'));
  try {
    fs.writeFileSync(path.join(dir, 'images.lock.json'), JSON.stringify({ images }));
    read(path.join(dir, 'images.lock.json'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
const resolved = { resolvedAt: '2026-01-01T00:00:00Z', resolvedFrom: 'test' };
const shopCodeImage = (image: string) => prod({ shop: { ...production.shop, codeSource: { ...production.shop.codeSource, image } as any } });
const lockedNode6 = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'images.lock.json'), 'utf-8')).images['node:6-alpine'].digest;
let validator: SchemaValidator | undefined;
/** A Deployment with a field the schemas do not know, checked as main.ts checks an environment's objects. */
const schemaViolation = unit(() => {
  validator ??= new SchemaValidator(path.join(__dirname, '..', 'schemas'), path.join(__dirname, '..', '.cache', 'schema-validators'));
  const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, dataTypo: { a: 'b' } };
  assertSchemaValid(validator, [{ file: '/tmp/x/.cache/synth-abc/unit/c.k8s.yaml', object }], 'environment "unit"', (f) => `dist/unit/${path.basename(f)}`);
});

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
  ['a config that is a stray string', () => prod({ hashgenerator: 'hashgenerator' as any }),
    /^\[production\] hashgenerator[\w/]*: (TypeError|invalid) /],
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
  // 6. image references: the whole OCI grammar
  ['an uppercase repository path', () => web({ image: 'registry.example.com/Web:1.2.3' }),
    /^\[unit\] test\/web\/Workload: invalid container "web" image "registry.example.com\/Web:1.2.3": must be a valid image reference .*: repository path component "Web" must be lowercase/],
  ['an uppercase first component without "." or ":" (a path, not a registry)', () => web({ image: 'MyOrg/web:1.2.3' }),
    /invalid container "web" image "MyOrg\/web:1.2.3": .*repository path component "MyOrg" must be lowercase .*a path, not a registry host/],
  ['a tag starting with "-"', () => web({ image: 'web:-1' }), /invalid container "web" image "web:-1": .*tag "-1" must be 1-128/],
  ['a tag of 129 characters', () => web({ image: `web:${'a'.repeat(129)}` }), /tag "a{129}" must be 1-128/],
  ['a digest in uppercase hex', () => web({ image: `web@sha256:${'A'.repeat(64)}` }), /digest "sha256:A{64}" must be sha256:<64 lowercase hex>/],
  ['a digest of an unknown algorithm', () => web({ image: `web@md5:${'a'.repeat(32)}` }), /digest algorithm "md5" must be sha256 or sha512/],
  ['a registry port that is not a number', () => web({ image: 'registry.example.com:http/web:1' }), /registry "registry.example.com:http" must be a host name/],
  // 7. a digest written in the model agrees with the lock
  ['a digest in the model that the lock disagrees with', () => shopCodeImage(`node:6-alpine@sha256:${'b'.repeat(64)}`),
    new RegExp(`^\\[production\\] shop/[\\w/-]+: invalid .*image "node:6-alpine@sha256:b{64}": has digest sha256:b{64} but images.lock.json locks node:6-alpine to ${lockedNode6}`)],
  // 8. lock errors name the file, wherever the lock is read
  ['a malformed lock entry, read by the synth', () => badLock((f) => applyImagePinning(Testing.app(), {}, path.dirname(f)), { 'web:1': { digest: 'sha256:abc', ...resolved } }),
    /^\[unit\] [^ ]*images\.lock\.json: invalid image lock entry "web:1" digest "sha256:abc": must be sha256:<64 lowercase hex>/],
  ['a malformed lock entry, read by images:lock and images:build', () => badLock(readLock, { 'web:1': { digest: 'sha256:abc', ...resolved } }),
    /^\[unit\] [^ ]*images\.lock\.json: invalid image lock entry "web:1" digest "sha256:abc"/],
  ['a lock entry whose reference breaks the grammar', () => badLock(readLock, { 'Web:1': { digest: `sha256:${'a'.repeat(64)}`, ...resolved } }),
    /images\.lock\.json: invalid image lock entry "Web:1": must be a valid image reference: repository path component "Web"/],
  // 9. values the types forbid reach the construct that received them
  ['a missing value read before its construct exists is not blamed on the last construct added', () => inChart(() => ({ port: (undefined as any).port })),
    /^\[unit\] test: TypeError: Cannot read properties of undefined \(reading 'port'\) \(while building this construct/],
  ['a negative Duration for a probe', () => inChart(() => ({ readiness: probes.tcp(8080, { periodSeconds: Duration.seconds(-1) }) })),
    /^\[unit\] test: Duration amounts cannot be negative. Received: -1 \(from a cdk8s Duration value\) \(while building this construct/],
  ['a number where a probe takes a Duration', () => web({ readiness: probes.tcp(8080, { periodSeconds: 10 as any }) }),
    /^\[unit\] test\/web\/Workload: invalid container "web" readiness probe periodSeconds 10: must be a cdk8s Duration/],
  // 10. schema violations: the file the user will see, once with every version that rejects it
  ['a schema violation', schemaViolation,
    /^\[unit\] 1 schema violation\(s\) in environment "unit":\n {2}dist\/unit\/c\.k8s\.yaml: ConfigMap\/cm: unknown field "dataTypo" \(Kubernetes v1\.27\.0, v1\.36\.0\)$/],
  // 11. wording
  ['two ports of one Service asking for one nodePort', () => web({}, {
    containers: [container, { ...container, name: 'tls', port: { name: 'https', number: 8443 } }], serviceType: kplus.ServiceType.NODE_PORT,
    servicePorts: [{ targetPort: 'http', nodePort: 31000 }, { targetPort: 'https', nodePort: 31000 }],
  }), /test\/web\/Service: invalid ports\["https"\]\.nodePort 31000: is already claimed by test\/web\/Service ports\["http"\]/],
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
  ['image references the OCI grammar allows', () => {
    for (const image of ['localhost:5000/web:1', 'localhost/web:1', 'Registry.Example.COM:5000/a/b/c__d-e.f:V1_x', '[::1]:5000/web:1', 'web:1.2.3',
      `web:1@sha256:${'a'.repeat(64)}`, `web@sha512:${'a'.repeat(128)}`, 'a.b/c---d/e_f:latest-1', `web:${'a'.repeat(128)}`]) web({ image });
  }],
  ['a digest in the model that agrees with the lock', () => shopCodeImage(`node:6-alpine@${lockedNode6}`)],
  ['the committed lock, read by images:lock', () => readLock(path.join(__dirname, '..', 'images.lock.json'))],
];

describe('positive controls', () => {
  test.each(ok)('%s', (_name, make) => {
    expect(make).not.toThrow();
  });
});
