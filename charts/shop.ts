import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { AppChart, AppNamespace, kplus, platformOf, PodSecurityLevel, v, ValidationError } from '../lib/core';
import { AutoscalingSpec, nodeAppPod, NodeAppSource, probes, WebService } from '../lib/workloads';
import { AppSecret, SecretSource } from '../lib/config';
import { DefaultDenyNetworkPolicy, HostIngress, TrafficPeer, WorkloadNetworkPolicy } from '../lib/networking';

/** The four services, by the names peers use to find them. */
export const SERVICE_NAMES = ['api-gateway', 'order-service', 'payment-service', 'db'] as const;
export type ShopServiceName = typeof SERVICE_NAMES[number];

export interface ShopConfig {
  readonly namespace: string;
  /** Where each container gets its code. */
  readonly codeSource: NodeAppSource;
  /** Type of the api-gateway Service (upstream: LoadBalancer; ClusterIP behind `gatewayIngress`). */
  readonly gatewayServiceType: kplus.ServiceType;
  /**
   * Route a host to api-gateway through the Ingress controller.
   * @default no Ingress
   */
  readonly gatewayIngress?: {
    readonly host: string;
    readonly className: string;
    /**
     * The host's certificate: a `kubernetes.io/tls` Secret named `<gateway>-tls` (keys tls.crt, tls.key) from
     * this source.
     * @default no TLS
     */
    readonly tlsSecret?: SecretSource;
  };
  /**
   * Scale api-gateway with a HorizontalPodAutoscaler instead of `replicas['api-gateway']`.
   * @default fixed replicas
   */
  readonly gatewayAutoscaling?: AutoscalingSpec;
  /** Pods per service (api-gateway's is ignored with `gatewayAutoscaling`). `db` must be 1: it keeps its data in memory. */
  readonly replicas: Readonly<Record<ShopServiceName, number>>;
  /**
   * Pod Security Admission level for the namespace.
   * @default none
   */
  readonly podSecurity?: PodSecurityLevel;
}

const SHOP = 'shop';

/**
 * The shop (Khaliper, "My Journey into Microservices with Kubernetes"): api-gateway -> order-service and
 * payment-service -> db. Each program takes its peers' `<service>.<namespace>:<port>` addresses as arguments;
 * here they come from the peers' Services, so a rename or a new port reaches every caller.
 */
export class ShopChart extends AppChart {
  constructor(scope: Construct, id: string, config: ShopConfig) {
    super(scope, id, { partOf: SHOP });
    const platform = platformOf(this);
    v.knownKeys(this, 'config', config, v.keysOf<ShopConfig>({ namespace: true, codeSource: true, gatewayServiceType: true, gatewayIngress: true, gatewayAutoscaling: true, replicas: true, podSecurity: true }));
    v.knownKeys(this, 'config.replicas', config.replicas, [...SERVICE_NAMES]);
    if (platform.networkPolicies && config.gatewayServiceType !== kplus.ServiceType.CLUSTER_IP) {
      throw ValidationError.of(this, 'config.gatewayServiceType', config.gatewayServiceType,
        'must be ClusterIP (exposed with gatewayIngress) when NetworkPolicies are on: they admit the Ingress controller, not outside clients');
    }
    const ns = new AppNamespace(this, 'Namespace', { name: config.namespace, podSecurity: config.podSecurity });

    // Who calls whom, and who needs the internet to start: the NetworkPolicies below are derived from it.
    const flows = new Map<WebService, { needsInternet: boolean; calls: readonly WebService[] }>();
    const service = (name: ShopServiceName, port: number, component: string, peers: readonly WebService[],
      extra: { readiness?: kplus.Probe; singleInstanceReason?: string; serviceType?: kplus.ServiceType; autoscaling?: AutoscalingSpec } = {}) => {
      v.samePeerModel(this, `${name} peers`, peers);
      const code = nodeAppPod(this, config.codeSource, name, peers.map((p) => p.address));
      const svc = new WebService(this, name, {
        name,
        namespace: ns.name,
        identity: { name, component, version: code.version },
        replicas: extra.autoscaling ? undefined : config.replicas[name],
        autoscaling: extra.autoscaling,
        singleInstanceReason: extra.singleInstanceReason,
        serviceType: extra.serviceType,
        // The upstream app.js programs install no SIGTERM handler, and as PID 1 the kernel ignores SIGTERM for
        // them: every stop waited the 30 s grace period and ended in SIGKILL (seen on a node: exit 137). With the
        // pause container as PID 1, SIGTERM's default action ends node at once (0.9 s, exit 143), whatever the
        // code source (an init in the image would only cover images we build).
        shareProcessNamespace: true,
        initContainers: code.initContainers,
        containers: [{
          name,
          ...code.container,
          port: { name: 'http', number: port }, // hard-coded in each app.js
          // Listening comes after apk, two downloads and npm install when the code is fetched at start.
          startup: probes.startupTcp(port, Duration.minutes(config.codeSource.kind === 'download-at-start' ? 5 : 1)),
          // GET / is 404 everywhere, and the proxied GET routes crash the process when a peer is down, so
          // readiness is TCP and liveness asks node itself, accepting any HTTP status.
          readiness: extra.readiness ?? probes.tcp(port),
          liveness: probes.nodeHttpAnswers(port),
          resources: {
            cpu: { request: '25m', limit: '500m' },
            // npm install of express, body-parser and request on node 6 peaks around 200 MiB.
            memory: { request: '96Mi', limit: '384Mi' },
            ephemeralStorage: { request: '64Mi', limit: '512Mi' },
          },
        }],
      });
      flows.set(svc, { needsInternet: code.needsInternet, calls: peers });
      return svc;
    };

    const db = service('db', 3004, 'database', [], {
      // GET /orders reads the in-memory array: 200 without any dependency.
      readiness: probes.httpGet('/orders', 3004),
      singleInstanceReason: 'db keeps its orders and transactions in memory, so a second pod would be a second, different database',
    });
    const payment = service('payment-service', 3001, 'payment', [db]);
    const order = service('order-service', 3002, 'order', [payment, db]);
    const gateway = service('api-gateway', 3000, 'api-gateway', [payment, order],
      { serviceType: config.gatewayServiceType, autoscaling: config.gatewayAutoscaling });

    if (config.gatewayIngress) {
      const ing = config.gatewayIngress;
      v.knownKeys(this, 'config.gatewayIngress', ing, v.keysOf<NonNullable<ShopConfig['gatewayIngress']>>({ host: true, className: true, tlsSecret: true }));
      const tls = ing.tlsSecret && new AppSecret(this, 'GatewayTls', {
        name: `${gateway.name}-tls`,
        namespace: ns.name,
        source: ing.tlsSecret,
        type: 'kubernetes.io/tls',
        requiredKeys: ['tls.crt', 'tls.key'],
        labels: gateway.workload.identityLabels,
      });
      new HostIngress(this, 'GatewayIngress', {
        name: gateway.name,
        host: ing.host,
        className: ing.className,
        tlsSecretName: tls ? tls.name : undefined,
        backend: gateway.service,
        labels: gateway.workload.identityLabels,
      });
    }

    if (platform.networkPolicies) {
      const ctl = platform.networkPolicies.ingressController;
      new DefaultDenyNetworkPolicy(this, 'DefaultDeny', { namespace: ns.name, system: SHOP });
      for (const [svc, flow] of flows) {
        const callers = [...flows].filter(([, f]) => f.calls.includes(svc)).map(([caller]): TrafficPeer => ({ workload: caller.workload }));
        // The gateway is the shop's front door, reached through the Ingress controller. (A LoadBalancer Service
        // brings client traffic from outside the cluster, which this policy would drop: use gatewayIngress.)
        const front: TrafficPeer[] = svc === gateway ? [{ namespace: ctl.namespace, podLabels: ctl.podLabels }] : [];
        new WorkloadNetworkPolicy(this, `${svc.name}-network`, {
          target: svc.workload,
          allowFrom: [...front, ...callers],
          allowTo: [...flow.calls.map((p): TrafficPeer => ({ workload: p.workload })), ...(flow.needsInternet ? [{ internet: [443] }] : [])],
        });
      }
    }
  }
}
