import * as path from 'path';
import { kplus, projectRoot } from '../lib/core';
import { readSha256Sums } from '../lib/workloads';
import { EnvironmentConfig } from './environment';
import { SHOP_UPSTREAM } from './local';

/**
 * What a careful platform team signs off (../README.md, "Production"): every namespace enforces Pod Security
 * "restricted", every workload has its own ServiceAccount, stateless services run at least two replicas with a
 * PodDisruptionBudget and are spread over nodes, NetworkPolicies deny everything the systems do not need, nothing
 * is a NodePort, and traffic enters through the nginx Ingress controller with TLS.
 */
export const production: EnvironmentConfig = {
  name: 'production',
  // The platform team runs the cluster's sealed-secrets controller (kube-system/sealed-secrets-controller, the
  // release kubeseal is pinned to); this repository only fetches its certificate and seals with it.
  sealedSecretsController: { deployedBy: 'platform-team', namespace: 'kube-system', name: 'sealed-secrets-controller' },
  platform: {
    dedicatedServiceAccounts: true,
    highAvailability: true,
    podSecurity: 'restricted',
    ingressTls: 'required',
    // Reconciled from git by Flux (README, "GitOps"): the cluster pulls main. Point url at your remote.
    gitops: { url: 'https://git.example.com/platform/k8s-infra.git', branch: 'main' },
    networkPolicies: {
      // ingress-nginx as its Helm chart and manifests install it.
      ingressController: { namespace: 'ingress-nginx', podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
    },
    // Every image by digest from images.lock.json. Two could not be resolved from this build machine (no route to
    // Docker Hub, and no public record of their digests): they stay on their tags, as documented exceptions, until
    // `npm run images:lock -- <ref>` runs once on a connected machine; then delete the line.
    imagePinning: {
      exceptions: {
        'cjimti/go-ok:v1': 'digest not yet resolved: run npm run images:lock -- cjimti/go-ok:v1 on a machine that reaches Docker Hub',
        'jakousa/dwk-app1:78031863af07c4c4cc3c96d07af68e8ce6e3afba': 'digest not yet resolved: run npm run images:lock for it on a machine that reaches Docker Hub',
      },
    },
  },
  goOk: {
    namespace: 'go-ok',
    podSecurity: 'restricted',
    image: 'cjimti/go-ok:v1',
    replicas: 2,
    serviceType: kplus.ServiceType.CLUSTER_IP,
    ingress: { host: 'go-ok.imti.cloud', className: 'nginx', tlsSecretName: 'tls-certs' },
    // Unprivileged ports: no sysctl needed; the Service still answers on 443.
    declaredPod: { listenPorts: { app: 8080, tls: 8443 } },
    tlsProxyImage: 'nginx:1.28.0-alpine',
    // secrets/production/tls-certs.yaml, sealed with sealing/production.pem.
    tlsSecret: { kind: 'sealed', environment: 'production' },
  },
  hashgenerator: {
    namespace: 'hashgenerator',
    podSecurity: 'restricted',
    image: 'jakousa/dwk-app1:78031863af07c4c4cc3c96d07af68e8ce6e3afba',
    replicas: 1,
    runAs: 'restricted',
  },
  shop: {
    namespace: 'shop',
    podSecurity: 'restricted',
    // The upstream code at the same pinned commit, fetched by a non-root init container (no apk, no root).
    // Each fetched file must match its upstream sha256 (images/shop/sources.sha256), or the init container fails.
    codeSource: { kind: 'fetch-at-init', image: 'node:6-alpine', ...SHOP_UPSTREAM, sha256: readSha256Sums(path.join(projectRoot(), 'images/shop/sources.sha256')) },
    gatewayServiceType: kplus.ServiceType.CLUSTER_IP,
    gatewayIngress: { host: 'shop.imti.cloud', className: 'nginx', tlsSecret: { kind: 'sealed', environment: 'production' } },
    gatewayAutoscaling: { minReplicas: 2, maxReplicas: 6, cpuUtilization: 75 },
    // api-gateway's count comes from its autoscaler; db must stay at 1 (in-memory data).
    replicas: { 'api-gateway': 2, 'order-service': 2, 'payment-service': 2, 'db': 1 },
  },
};
