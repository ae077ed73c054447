import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { Construct } from 'constructs';
import { GoOkChart } from '../charts/go-ok';
import { HashGeneratorChart } from '../charts/hashgenerator';
import { ShopChart } from '../charts/shop';
import { local } from '../environments/local';
import { production } from '../environments/production';
import { AppChart } from '../lib/core/app-chart';
import { FileConfigMap } from '../lib/config/file-config-map';
import { HostIngress } from '../lib/networking/host-ingress';
import * as kplus from '../lib/core/kplus';
import * as v from '../lib/core/validation';
import { AppContainerSpec } from '../lib/workloads/pod-template';
import { RESTRICTED } from '../lib/workloads/security';
import { WebService, WebServiceProps } from '../lib/workloads/web-service';
import { buildApp, selectEnvironments } from '../environments/app';

// One row per validation rule: what the user got wrong, and the words the error must contain (construct path,
// field, value). Every error is thrown at synth time, before anything is written.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'validation-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, content: string) => { fs.writeFileSync(path.join(tmp, name), content); return name; };

const chart = () => new AppChart(Testing.app(), 'test', { partOf: 'test' });
const container: AppContainerSpec = {
  name: 'web',
  image: 'registry.example.com/web:1.2.3',
  port: { name: 'http', number: 8080 },
  resources: {
    cpu: { request: '10m', limit: '100m' },
    memory: { request: '16Mi', limit: '64Mi' },
    ephemeralStorage: { request: '8Mi', limit: '64Mi' },
  },
  security: RESTRICTED,
};
const web = (over: Partial<WebServiceProps> = {}, c: Partial<AppContainerSpec> = {}, scope: Construct = chart()) => new WebService(scope, 'web', {
  name: 'web', namespace: 'apps', identity: { name: 'web', component: 'server' }, containers: [{ ...container, ...c }], ...over,
});

const cases: [string, () => unknown, RegExp][] = [
  ['an API token from the namespace\'s shared default account', () => web({ kubernetesApiAccess: true }),
    /test\/web\/Workload: invalid kubernetesApiAccess true: needs dedicatedServiceAccount/],
  ['name not a DNS-1123 label', () => web({ name: 'Web_App' }), /test\/web\/Workload: invalid name "Web_App": must be a DNS-1123 label/],
  ['name longer than 63', () => web({ name: 'a'.repeat(64) }), /invalid name "a{64}".*at most 63/],
  ['namespace not a DNS-1123 label', () => web({ namespace: 'Apps' }), /invalid namespace "Apps"/],
  ['label value Kubernetes rejects', () => web({ selectorLabels: { app: 'web app' } }), /invalid selectorLabels\["app"\] "web app": must be a label value/],
  ['container name invalid', () => web({}, { name: 'Web' }), /invalid container name "Web"/],
  ['port 0', () => web({}, { port: { name: 'http', number: 0 } }), /invalid container "web" port 0: must be an integer port from 1 to 65535/],
  ['port above 65535', () => web({}, { port: { name: 'http', number: 70000 } }), /invalid container "web" port 70000/],
  ['port name longer than 15', () => web({}, { port: { name: 'http-port-for-web', number: 8080 } }), /invalid container "web" port name "http-port-for-web": must be an IANA_SVC_NAME/],
  ['port name with capitals', () => web({}, { port: { name: 'HTTP', number: 8080 } }), /invalid container "web" port name "HTTP"/],
  ['nodePort outside 30000-32767', () => web({ serviceType: kplus.ServiceType.NODE_PORT, servicePorts: [{ targetPort: 'http', nodePort: 8080 }] }),
    /test\/web\/Service: invalid ports\["http"\].nodePort 8080: must be an integer in the default NodePort range/],
  ['nodePort on a ClusterIP Service', () => web({ servicePorts: [{ targetPort: 'http', nodePort: 30080 }] }), /nodePort 30080: is only allowed on NodePort or LoadBalancer/],
  ['two Services claiming one nodePort', () => {
    const c = chart();
    web({ name: 'a', serviceType: kplus.ServiceType.NODE_PORT, servicePorts: [{ targetPort: 'http', nodePort: 31000 }] }, {}, new Construct(c, 'one'));
    web({ name: 'b', serviceType: kplus.ServiceType.NODE_PORT, servicePorts: [{ targetPort: 'http', nodePort: 31000 }] }, {}, new Construct(c, 'two'));
  }, /test\/two\/web\/Service: invalid ports\["\w+"\].nodePort 31000: is already claimed by test\/one\/web\/Service/],
  ['Service targeting an undeclared port', () => web({ servicePorts: [{ targetPort: 'grpc' }] }), /invalid ports.targetPort "grpc": must name a port declared by test\/web\/Workload: http/],
  ['replicas < 0', () => web({ replicas: -1 }), /invalid replicas -1: must be a whole number >= 0/],
  ['replicas not an integer', () => web({ replicas: 1.5 }), /invalid replicas 1.5: must be a whole number/],
  ['db replicas other than 1', () => new ShopChart(Testing.app(), 'shop', { ...local.shop, replicas: { ...local.shop.replicas, db: 3 } }),
    /shop\/db\/Workload: invalid replicas 3: must be exactly 1: db keeps its orders and transactions in memory/],
  ['image without tag', () => new GoOkChart(Testing.app(), 'go-ok', { ...local.goOk, image: 'cjimti/go-ok' }), /go-ok\/GoOk\/Workload: invalid container "go-ok" image "cjimti\/go-ok": must be pinned/],
  ['image :latest', () => new HashGeneratorChart(Testing.app(), 'h', { ...local.hashgenerator, image: 'jakousa/dwk-app1:latest' }), /invalid container "hashgenerator" image "jakousa\/dwk-app1:latest": must be pinned to a tag other than "latest"/],
  ['image reference not valid', () => web({}, { image: 'Registry/Web:1.0' }), /invalid container "web" image "Registry\/Web:1.0": must be a valid image reference/],
  ['peer from another model', () => {
    const foreign = web({ name: 'db' }, {}, chart());
    const shop = new ShopChart(Testing.app(), 'shop', local.shop);
    return require('../lib/core/validation').samePeerModel(shop, 'api-gateway peers', [foreign]);
  }, /shop: invalid api-gateway peers "test\/web": must be a service of this app/],
  ['address of a port the peer does not have', () => web().service.address('grpc'), /test\/web\/Service: invalid port "grpc": must be one of http/],
  ['duplicate env names', () => web({}, { env: [{ name: 'PORT', value: '80' }, { name: 'PORT', value: '81' }] }), /invalid container "web" env names "PORT": must be unique/],
  ['env name not a C identifier', () => web({}, { env: [{ name: 'GIN-MODE', value: 'release' }] }), /invalid container "web" env name "GIN-MODE": must be a C identifier/],
  ['Ingress host not a DNS name', () => new GoOkChart(Testing.app(), 'go-ok', { ...local.goOk, ingress: { ...local.goOk.ingress, host: 'Local_Imti' } }),
    /go-ok\/Ingress: invalid host "Local_Imti": must be a fully qualified DNS name/],
  ['Ingress path without leading /', () => new HostIngress(chart(), 'ing', { name: 'web', host: 'web.example.com', path: 'api', className: 'nginx', backend: web().service, labels: {} }),
    /test\/ing: invalid path "api": must be an absolute HTTP path/],
  ['ConfigMap file missing', () => new FileConfigMap(chart(), 'cm', { name: 'conf', namespace: 'apps', files: { 'a.conf': 'missing.conf' }, baseDir: tmp, labels: {} }),
    /test\/cm: invalid files\["a.conf"\] "missing.conf": must be a readable file \(ENOENT\)/],
  ['ConfigMap file empty', () => new FileConfigMap(chart(), 'cm', { name: 'conf', namespace: 'apps', files: { 'a.conf': file('empty.conf', '  \n') }, baseDir: tmp, labels: {} }),
    /invalid files\["a.conf"\] "empty.conf": must not be empty/],
  ['ConfigMap over 1 MiB', () => new FileConfigMap(chart(), 'cm', { name: 'conf', namespace: 'apps', files: { 'a.conf': file('big.conf', 'x'.repeat(1024 * 1024)) }, baseDir: tmp, labels: {} }),
    /invalid files\["a.conf"\] "big.conf": brings the ConfigMap to 1048576 bytes; Kubernetes objects must stay under 1 MiB/],
  ['resource quantity that does not parse', () => web({}, { resources: { ...container.resources, cpu: { request: '10 cores', limit: '1' } } }),
    /invalid container "web" resources.cpu.request "10 cores": must be a Kubernetes quantity/],
  ['request above limit', () => web({}, { resources: { ...container.resources, memory: { request: '1Gi', limit: '512Mi' } } }),
    /invalid container "web" resources.memory.request "1Gi": must not exceed the limit 512Mi/],
  ['unknown environment name', () => selectEnvironments('local,prod'), /SYNTH_ENVIRONMENTS: unknown environment "prod"; known: local/],
  ['unknown environment field', () => buildApp({ ...local, replicas: 3 } as never, tmp), /\(app\): invalid environment "local".replicas 3: is not a known setting/],
  ['unknown chart config field (typo)', () => new ShopChart(Testing.app(), 'shop', { ...local.shop, replica: {} } as never), /shop: invalid config.replica \{\}: is not a known setting/],
  ['a LoadBalancer gateway behind NetworkPolicies that would drop its clients', () => buildApp(
    { ...production, shop: { ...production.shop, gatewayServiceType: kplus.ServiceType.LOAD_BALANCER } }, tmp),
  /shop: invalid config.gatewayServiceType "LoadBalancer": must be ClusterIP \(exposed with gatewayIngress\) when NetworkPolicies are on/],
  ['unknown shop service in replicas', () => new ShopChart(Testing.app(), 'shop', { ...local.shop, replicas: { ...local.shop.replicas, 'orders-service': 1 } } as never),
    /shop: invalid config.replicas.orders-service 1: is not a known setting; known: api-gateway, order-service, payment-service, db/],
];

describe('validation rules', () => {
  test('there is a case for every rule', () => expect(cases.length).toBeGreaterThanOrEqual(25));
  test.each(cases)('%s', (_rule, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('keysOf', () => {
  // The known-key lists of configs and props are written with keysOf, so they cannot drift from their interfaces:
  // `npm test` type-checks first, and these @ts-expect-error lines fail it if keysOf stops rejecting either case.
  test('the compiler rejects a missing key and an unknown one', () => {
    // @ts-expect-error a key of the interface is missing
    v.keysOf<{ a: number; b?: string }>({ a: true });
    // @ts-expect-error a key the interface does not have
    v.keysOf<{ a: number }>({ a: true, c: true });
    expect(v.keysOf<{ a: number; b?: string }>({ a: true, b: true })).toEqual(['a', 'b']);
  });
});
