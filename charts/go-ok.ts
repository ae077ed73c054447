import { Construct } from 'constructs';
import { AppChart, AppNamespace, identityLabels, imageVersion, kplus, platformOf, PodSecurityLevel, projectRoot, v, ValidationError } from '../lib/core';
import { AppPod, EnvVar, probes, Resources, RESTRICTED, tlsProxySidecar, WebService } from '../lib/workloads';
import { AppSecret, FileConfigMap, SecretSource } from '../lib/config';
import { DefaultDenyNetworkPolicy, ExposedService, HostIngress, WorkloadNetworkPolicy } from '../lib/networking';

export interface GoOkConfig {
  readonly namespace: string;
  /** go-ok image, pinned (seed: `cjimti/go-ok:v1`). */
  readonly image: string;
  /** Replicas of the `go-ok` Deployment. */
  readonly replicas: number;
  /** Type of the `go-ok` Service (the seed's `kubectl expose --type NodePort`). */
  readonly serviceType: kplus.ServiceType;
  readonly ingress: {
    readonly host: string;
    readonly className: string;
    /**
     * TLS Secret for the host.
     * @default no TLS on the Ingress
     */
    readonly tlsSecretName?: string;
  };
  /** The declared Pod from the seed's pod.yml and its Service. */
  readonly declaredPod: {
    /**
     * NodePorts for its Service; without them the Service is ClusterIP.
     * @default ClusterIP
     */
    readonly nodePorts?: { readonly http: number; readonly https: number };
    /**
     * The ports the processes bind inside the Pod: go-ok's `PORT` and nginx's TLS `listen`. The Service keeps
     * 80/443 and maps them by port name. Below 1024 the Pod needs the safe sysctl
     * `net.ipv4.ip_unprivileged_port_start=0` to bind them without root.
     * @default { app: 80, tls: 443 } (the seed's pod.yml: `PORT=80`)
     */
    readonly listenPorts?: { readonly app: number; readonly tls: number };
  };
  /** nginx image for the TLS proxy sidecar. */
  readonly tlsProxyImage: string;
  /**
   * Where the sidecar's `tls-certs` Secret (`cert.pem`, `key.pem`) comes from: a committed sealed file
   * (`secrets/<environment>/tls-certs.yaml`), or git-ignored local files for a `dist-local` environment.
   */
  readonly tlsSecret: SecretSource;
  /**
   * Pod Security Admission level for the namespace (a namespace other than `default` is created by the chart).
   * @default none
   */
  readonly podSecurity?: PodSecurityLevel;
}

/** The Secret with the sidecar's `cert.pem` and `key.pem` (see the secrets workflow in the README). */
export const TLS_SECRET_NAME = 'tls-certs';

const APP = 'go-ok';
/**
 * go-ok reports the pod's identity from these; its upstream manifest (k8s/go-ok-deploy.yml, seeds.md section 1)
 * sets them from the downward API. SERVICE_ACCOUNT is read by versions before 3.0.0.
 */
const IDENTITY_ENV: readonly EnvVar[] = [
  { name: 'NODE_NAME', fieldRef: kplus.EnvFieldPaths.NODE_NAME },
  { name: 'POD_NAME', fieldRef: kplus.EnvFieldPaths.POD_NAME },
  { name: 'POD_NAMESPACE', fieldRef: kplus.EnvFieldPaths.POD_NAMESPACE },
  { name: 'POD_IP', fieldRef: kplus.EnvFieldPaths.POD_IP },
  { name: 'SERVICE_ACCOUNT', fieldRef: kplus.EnvFieldPaths.SERVICE_ACCOUNT_NAME },
];
const GO_OK_RESOURCES: Resources = {
  cpu: { request: '10m', limit: '200m' },
  memory: { request: '16Mi', limit: '64Mi' },
  ephemeralStorage: { request: '16Mi', limit: '64Mi' },
};
const NGINX_RESOURCES: Resources = {
  cpu: { request: '10m', limit: '200m' },
  memory: { request: '16Mi', limit: '64Mi' },
  ephemeralStorage: { request: '16Mi', limit: '64Mi' },
};

/**
 * go-ok (imti.co "Microservices & Kubernetes"): the `kubectl create deployment` + `expose` pair, the declared Pod
 * of pod.yml with an nginx TLS proxy, and an Ingress for the host.
 */
export class GoOkChart extends AppChart {
  constructor(scope: Construct, id: string, config: GoOkConfig) {
    super(scope, id, { partOf: APP });
    const platform = platformOf(this);
    v.knownKeys(this, 'config', config, v.keysOf<GoOkConfig>({ namespace: true, image: true, replicas: true, serviceType: true, ingress: true, declaredPod: true, tlsProxyImage: true, tlsSecret: true, podSecurity: true }));
    v.knownKeys(this, 'config.ingress', config.ingress, v.keysOf<GoOkConfig['ingress']>({ host: true, className: true, tlsSecretName: true }));
    v.knownKeys(this, 'config.declaredPod', config.declaredPod, v.keysOf<GoOkConfig['declaredPod']>({ nodePorts: true, listenPorts: true }));
    const listen = config.declaredPod.listenPorts ?? { app: 80, tls: 443 };
    v.knownKeys(this, 'config.declaredPod.listenPorts', listen, v.keysOf<typeof listen>({ app: true, tls: true }));
    v.port(this, 'config.declaredPod.listenPorts.app', listen.app);
    v.port(this, 'config.declaredPod.listenPorts.tls', listen.tls);
    v.unique(this, 'config.declaredPod.listenPorts', [listen.app, listen.tls]);
    const privilegedPorts = Math.min(listen.app, listen.tls) < 1024;
    if (platform.networkPolicies) {
      // The policies admit the Ingress controller only: a port on every node would be open and yet answer nobody.
      if (config.serviceType !== kplus.ServiceType.CLUSTER_IP) {
        throw ValidationError.of(this, 'config.serviceType', config.serviceType, 'must be ClusterIP (exposed with the Ingress) when platform.networkPolicies is on');
      }
      if (config.declaredPod.nodePorts) {
        throw ValidationError.of(this, 'config.declaredPod.nodePorts', config.declaredPod.nodePorts, 'must be unset when platform.networkPolicies is on: the Pod\'s Service is ClusterIP');
      }
    }
    const namespace = config.namespace;
    // `default` exists in every cluster and is not ours to label.
    if (namespace !== 'default') new AppNamespace(this, 'Namespace', { name: namespace, podSecurity: config.podSecurity });

    // `kubectl create deployment go-ok` + `kubectl expose deployments go-ok --port 8080 --type NodePort`.
    const goOk = new WebService(this, 'GoOk', {
      name: APP,
      namespace,
      identity: { name: APP, component: 'server', version: imageVersion(config.image) },
      replicas: config.replicas,
      serviceType: config.serviceType,
      containers: [{
        name: APP,
        image: config.image,
        port: { name: 'http', number: 8080 }, // go-ok's default when PORT is unset
        env: IDENTITY_ENV, // from the downward API, as upstream's go-ok-deploy.yml sets them
        // go-ok has no health endpoint; `GET /` is its only route and has no dependencies.
        readiness: probes.httpGet('/', 8080),
        liveness: probes.tcp(8080, { failureThreshold: 6 }),
        resources: GO_OK_RESOURCES,
        // A static Go binary that writes nothing: runs as non-root on a read-only root as it is.
        security: RESTRICTED,
      }],
    });

    // The declared Pod of pod.yml, with the TLS proxy that the seed's ConfigMap and Secret were made for.
    const proxyConf = new FileConfigMap(this, 'NginxProxyConf', {
      name: 'nginx-proxy-conf',
      namespace,
      files: { 'proxy.conf': 'nginx/proxy.conf' },
      baseDir: projectRoot(),
      substitutions: { TLS_PORT: listen.tls, APP_PORT: listen.app },
      labels: identityLabels({ name: APP, instance: 'nginx-proxy-conf', component: 'tls-proxy' }),
    });
    // When the Ingress terminates TLS with the same Secret, it must be of type kubernetes.io/tls, which requires
    // tls.crt and tls.key (extra keys are allowed, so the sidecar keeps its cert.pem and key.pem).
    const ingressUsesIt = config.ingress.tlsSecretName === TLS_SECRET_NAME;
    const tlsSecret = new AppSecret(this, 'TlsSecret', {
      name: TLS_SECRET_NAME,
      namespace,
      source: config.tlsSecret,
      type: ingressUsesIt ? 'kubernetes.io/tls' : undefined,
      requiredKeys: ingressUsesIt ? ['cert.pem', 'key.pem', 'tls.crt', 'tls.key'] : ['cert.pem', 'key.pem'],
      labels: identityLabels({ name: APP, instance: TLS_SECRET_NAME, component: 'tls-proxy' }),
    });
    const pod = new AppPod(this, 'GoOkPod', {
      name: `${APP}-pod`,
      namespace,
      identity: { name: APP, component: 'server', version: imageVersion(config.image) },
      selectorLabels: { app: 'go-ok-app', purpose: 'example' },
      // PORT=80 as in pod.yml. Binding 80 (and nginx's 443) without root or NET_BIND_SERVICE: this namespaced,
      // safe sysctl lowers the privileged-port floor for this pod's network namespace only. Environments that
      // listen on unprivileged ports need neither the sysctl nor kube-linter's suppression of it.
      sysctls: privilegedPorts ? { 'net.ipv4.ip_unprivileged_port_start': '0' } : undefined,
      annotations: privilegedPorts ? {
        'ignore-check.kube-linter.io/unsafe-sysctls': 'net.ipv4.ip_unprivileged_port_start is namespaced and in the Kubernetes safe set '
          + 'since 1.22 (allowed by Pod Security "restricted"); kube-linter\'s list predates it',
      } : undefined,
      containers: [
        {
          name: APP,
          image: config.image,
          imagePullPolicy: kplus.ImagePullPolicy.ALWAYS,
          port: { name: 'http', number: listen.app },
          // PORT and GIN_MODE as in pod.yml; the identity fields from the downward API, as upstream's go-ok-deploy.yml.
          env: [{ name: 'PORT', value: String(listen.app) }, { name: 'GIN_MODE', value: 'release' }, ...IDENTITY_ENV],
          readiness: probes.httpGet('/', listen.app),
          liveness: probes.tcp(listen.app, { failureThreshold: 6 }),
          resources: GO_OK_RESOURCES,
          security: RESTRICTED,
        },
        tlsProxySidecar(this, {
          image: config.tlsProxyImage,
          config: proxyConf,
          tlsSecretName: tlsSecret.name,
          port: listen.tls,
          resources: NGINX_RESOURCES,
          security: RESTRICTED,
        }),
      ],
    });
    // The seed's service.yml selects `app: go-ok` (the pod says `app: go-ok-app`), so it selects nothing, and it is
    // named `go-ok` like the expose Service. Deriving the Service from the pod makes both mistakes impossible:
    // the selector is the pod's, and the name is the pod's (`go-ok-pod`).
    // With NetworkPolicies on, the Pod admits only https (below): plain http to go-ok is the proxy's upstream and
    // stays inside the Pod, so the Service does not offer a port that every client would find closed.
    const nodePorts = config.declaredPod.nodePorts;
    const exposeHttp = !platform.networkPolicies;
    new ExposedService(this, 'GoOkPodService', {
      target: pod,
      type: nodePorts ? kplus.ServiceType.NODE_PORT : kplus.ServiceType.CLUSTER_IP,
      ports: [
        ...(exposeHttp ? [{ targetPort: 'http', port: 80, nodePort: nodePorts?.http }] : []),
        { targetPort: 'https', port: 443, nodePort: nodePorts?.https },
      ],
    });

    // No Ingress exists upstream for local.imti.cloud; this follows go-ok's k8s/ok-ingress.yml in networking/v1.
    new HostIngress(this, 'Ingress', {
      name: APP,
      host: config.ingress.host,
      className: config.ingress.className,
      backend: goOk.service,
      tlsSecretName: config.ingress.tlsSecretName,
      labels: goOk.workload.identityLabels,
    });

    if (platform.networkPolicies) {
      const controller = { ...platform.networkPolicies.ingressController };
      new DefaultDenyNetworkPolicy(this, 'DefaultDeny', { namespace, system: APP });
      new WorkloadNetworkPolicy(this, 'GoOkNetwork', { target: goOk.workload, allowFrom: [controller] });
      // Only the TLS port: plain HTTP to the app behind the proxy stays inside the pod.
      new WorkloadNetworkPolicy(this, 'GoOkPodNetwork', { target: pod, allowFrom: [controller], ingressPorts: ['https'] });
    }
  }
}
