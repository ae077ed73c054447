import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { FileConfigMap } from '../config/file-config-map';
import * as kplus from '../core/kplus';
import { AppContainerSpec } from './pod-template';
import * as probes from './probes';
import { Resources } from './quantity';
import { SecurityProfile } from './security';

export interface TlsProxySidecarProps {
  /** nginx image, pinned. Must be nginx >= 1.25.1-compatible config (`listen ... ssl`). */
  readonly image: string;
  /** The ConfigMap holding `proxy.conf`, mounted at /etc/nginx/conf.d. */
  readonly config: FileConfigMap;
  /** Name of the Secret with `cert.pem` and `key.pem`, mounted at /etc/tls. */
  readonly tlsSecretName: string;
  /** The TLS port nginx listens on (as in proxy.conf). */
  readonly port: number;
  readonly resources: Resources;
  readonly security: SecurityProfile;
}

/**
 * An nginx container that terminates TLS and proxies to the app on 127.0.0.1, as in the course material the
 * seed's `tls-certs` and `nginx-proxy-conf` objects come from (ud615 secure-monolith).
 */
export function tlsProxySidecar(scope: Construct, props: TlsProxySidecarProps): AppContainerSpec {
  const conf = kplus.Volume.fromConfigMap(scope, 'NginxProxyConfVolume', props.config.configMap, {
    name: 'nginx-proxy-conf',
    items: { 'proxy.conf': { path: 'proxy.conf' } },
  });
  const tls = kplus.Volume.fromSecret(scope, 'TlsCertsVolume', kplus.Secret.fromSecretName(scope, 'TlsCerts', props.tlsSecretName), {
    name: 'tls-certs',
    items: { 'cert.pem': { path: 'cert.pem' }, 'key.pem': { path: 'key.pem' } },
    defaultMode: 0o440, // readable by the pod's group (fsGroup) only: it holds the private key
    optional: false,
  });
  return {
    name: 'nginx',
    image: props.image,
    port: { name: 'https', number: props.port },
    // Ready when a request goes through to the app; alive while nginx accepts connections, so a failing
    // upstream takes the pod out of rotation without restarting nginx. The first check waits 2 s: fired at the
    // container's start it raced nginx's own and failed ("connection refused", a Warning event; seen on the node).
    readiness: kplus.Probe.fromHttpGet('/', { port: props.port, scheme: kplus.ConnectionScheme.HTTPS, initialDelaySeconds: Duration.seconds(2) }),
    liveness: probes.tcp(props.port, { failureThreshold: 6 }),
    resources: props.resources,
    security: props.security,
    // The nginx image writes its caches, pid file and temp files here.
    writablePaths: ['/var/cache/nginx', '/run', '/tmp'],
    mounts: [
      { volume: conf, path: '/etc/nginx/conf.d' },
      { volume: tls, path: '/etc/tls' },
    ],
    preStop: ['/usr/sbin/nginx', '-s', 'quit'],
  };
}
