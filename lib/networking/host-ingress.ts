import { Construct } from 'constructs';
import { ExposedService } from './exposed-service';
import * as kplus from '../core/kplus';
import { ValidationError } from '../core/errors';
import { platformOf } from '../core/platform-rules';
import * as v from '../core/validation';

export interface HostIngressProps {
  /** Ingress name (DNS-1123 subdomain). */
  readonly name: string;
  /** The host to route, e.g. `local.imti.cloud`. */
  readonly host: string;
  /** @default "/" */
  readonly path?: string;
  /** IngressClass, e.g. `nginx`. */
  readonly className: string;
  /** The Service to route to; must be in the Ingress's namespace. */
  readonly backend: ExposedService;
  /**
   * Target port name on the backend Service.
   * @default its only port
   */
  readonly backendPort?: string;
  /**
   * Name of a `kubernetes.io/tls` Secret holding the host's certificate; enables TLS.
   * @default no TLS
   */
  readonly tlsSecretName?: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** An Ingress (networking.k8s.io/v1) routing one host and path prefix to a Service of the model. */
export class HostIngress extends Construct {
  public readonly ingress: kplus.Ingress;
  /** What it routes (docs/environments draws these): `host` + `path` to port `backendPort` of `backend`. */
  public readonly host: string;
  public readonly path: string;
  public readonly backend: ExposedService;
  public readonly backendPort: number;
  /** @default no TLS */
  public readonly tlsSecretName?: string;

  constructor(scope: Construct, id: string, props: HostIngressProps) {
    super(scope, id);
    const name = v.dnsSubdomain(this, 'name', props.name);
    const host = v.hostname(this, 'host', props.host);
    const path = v.httpPath(this, 'path', props.path ?? '/');
    v.dnsSubdomain(this, 'className', props.className);
    if (platformOf(this).ingressTls === 'required' && !props.tlsSecretName) {
      throw ValidationError.of(this, 'tlsSecretName', props.tlsSecretName ?? 'none', `must name the TLS Secret for ${host}: platform.ingressTls is "required"`);
    }
    if (props.labels) v.labels(this, 'labels', { ...props.labels });
    const port = props.backend.port(props.backendPort);
    this.host = host;
    this.path = path;
    this.backend = props.backend;
    this.backendPort = port;
    this.tlsSecretName = props.tlsSecretName;
    this.ingress = new kplus.Ingress(this, 'Resource', {
      metadata: { name, namespace: props.backend.namespace, labels: { ...props.labels } },
      className: props.className,
      rules: [{
        host,
        path,
        pathType: kplus.HttpIngressPathType.PREFIX,
        backend: kplus.IngressBackend.fromService(props.backend.service, { port }),
      }],
      tls: props.tlsSecretName
        ? [{ hosts: [host], secret: kplus.Secret.fromSecretName(this, 'TlsSecret', v.dnsSubdomain(this, 'tlsSecretName', props.tlsSecretName)) }]
        : undefined,
    });
  }
}
