import { kplus } from '../lib/core';
import { EnvironmentConfig } from './environment';

/** The upstream shop code, pinned to its last commit ("k8s check done", 2018-01-30) rather than `master`. */
export const SHOP_UPSTREAM = {
  repository: 'EvgenyKhaliper/nodejs-microservices-demo',
  commit: '8ec04469d4ca0b6cea96e5061cf896967220f607',
} as const;

/**
 * minikube / k3d, as the seed tutorials run it: NodePort Services, one replica, host `local.imti.cloud`
 * (mapped to the node IP in /etc/hosts), the shop downloading its code at start.
 */
export const local: EnvironmentConfig = {
  name: 'local',
  // A fresh tutorial cluster has none: the `platform` chart deploys it (kube-system, kubeseal's default place).
  sealedSecretsController: { deployedBy: 'this-repository' },
  goOk: {
    namespace: 'default',
    image: 'cjimti/go-ok:v1',
    replicas: 1,
    serviceType: kplus.ServiceType.NODE_PORT,
    ingress: { host: 'local.imti.cloud', className: 'nginx' },
    declaredPod: { nodePorts: { http: 31000, https: 31443 } },
    tlsProxyImage: 'nginx:1.28.0-alpine',
    // secrets/local/tls-certs.yaml, sealed with sealing/local.pem (see "Secrets" in the README).
    tlsSecret: { kind: 'sealed', environment: 'local' },
  },
  hashgenerator: {
    namespace: 'default',
    image: 'jakousa/dwk-app1:78031863af07c4c4cc3c96d07af68e8ce6e3afba',
    replicas: 1,
  },
  shop: {
    namespace: 'shop',
    codeSource: { kind: 'download-at-start', baseImage: 'node:6-alpine', ...SHOP_UPSTREAM },
    gatewayServiceType: kplus.ServiceType.LOAD_BALANCER,
    replicas: { 'api-gateway': 1, 'order-service': 1, 'payment-service': 1, 'db': 1 },
  },
};
