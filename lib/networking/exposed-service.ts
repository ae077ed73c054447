import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { IntOrString } from '../../imports/k8s';
import { ValidationError } from '../core/errors';
import * as kplus from '../core/kplus';
import { platformOf } from '../core/platform-rules';
import * as v from '../core/validation';
import { IExposable } from '../workloads/workload';

/** One port of the Service, pointing at a port the workload declares. */
export interface ServicePortSpec {
  /** Name of the container port to target (must be declared by the workload). */
  readonly targetPort: string;
  /**
   * The Service's own port.
   * @default the container port's number
   */
  readonly port?: number;
  /**
   * Fixed nodePort (30000-32767), for NodePort Services only.
   * @default assigned by the cluster
   */
  readonly nodePort?: number;
}

export interface ExposedServiceProps {
  /** The workload whose pods this Service selects. Its selector and ports are taken from it. */
  readonly target: IExposable;
  /**
   * Service name (DNS-1123 label): the DNS name peers use.
   * @default the workload's name
   */
  readonly name?: string;
  /** @default ClusterIP */
  readonly type?: kplus.ServiceType;
  /**
   * Ports to expose.
   * @default every port the workload declares, at the same number
   */
  readonly ports?: readonly ServicePortSpec[];
}

/**
 * Every nodePort claimed in one App (one cluster), so two Services cannot claim the same one: a construct at the
 * App's root, where the rule's scope is, rather than module state shared by every App a process builds.
 */
class NodePortClaims extends Construct {
  static of(scope: Construct): NodePortClaims {
    const root = scope.node.root as Construct;
    return (root.node.tryFindChild(NodePortClaims.ID) as NodePortClaims | undefined) ?? new NodePortClaims(root, NodePortClaims.ID);
  }

  private static readonly ID = 'NodePortClaims';
  private readonly claims = new Map<number, string>();

  /** Claims `nodePort` for `claimant`, or throws naming the one that has it. */
  claim(scope: Construct, field: string, nodePort: number, claimant: string): void {
    const other = this.claims.get(nodePort);
    if (other) throw ValidationError.of(scope, field, nodePort, `is already claimed by ${other}; every nodePort must be unique in the cluster`);
    this.claims.set(nodePort, claimant);
  }
}

/**
 * A Service derived from the workload it exposes: its selector is the workload's selector and each target port
 * is a port the workload declares, so a Service that selects nothing or targets nothing cannot be written.
 */
export class ExposedService extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly type: kplus.ServiceType;
  public readonly target: IExposable;
  /** Resolved ports: Service port number by target port name. */
  public readonly portsByName: ReadonlyMap<string, number>;
  public readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: ExposedServiceProps) {
    super(scope, id);
    const target = props.target;
    this.target = target;
    this.name = v.dnsLabel(this, 'name', props.name ?? target.name);
    this.namespace = target.namespace;
    this.type = props.type ?? kplus.ServiceType.CLUSTER_IP;
    v.oneOf(this, 'type', this.type, Object.values(kplus.ServiceType));
    if (platformOf(this).networkPolicies && this.type !== kplus.ServiceType.CLUSTER_IP) {
      throw ValidationError.of(this, 'type', this.type,
        'must be ClusterIP: with platform.networkPolicies on, traffic enters only through the Ingress controller, and the policies drop outside clients');
    }
    if (target.ports.length === 0) {
      throw ValidationError.of(this, 'target', target.node.path, 'declares no container port, so there is nothing to expose');
    }
    const specs: readonly ServicePortSpec[] = props.ports ?? target.ports.map((p) => ({ targetPort: p.name }));
    const ports: kplus.ServicePort[] = [];
    const byName = new Map<string, number>();
    for (const s of specs) {
      const declared = target.ports.find((p) => p.name === s.targetPort);
      if (!declared) {
        throw ValidationError.of(this, 'ports.targetPort', s.targetPort,
          `must name a port declared by ${target.node.path}: ${target.ports.map((p) => p.name).join(', ')}`);
      }
      const port = v.port(this, `ports["${s.targetPort}"].port`, s.port ?? declared.number);
      if (s.nodePort !== undefined) {
        if (this.type !== kplus.ServiceType.NODE_PORT && this.type !== kplus.ServiceType.LOAD_BALANCER) {
          throw ValidationError.of(this, `ports["${s.targetPort}"].nodePort`, s.nodePort, `is only allowed on NodePort or LoadBalancer Services, not ${this.type}`);
        }
        v.nodePort(this, `ports["${s.targetPort}"].nodePort`, s.nodePort);
        NodePortClaims.of(this).claim(this, `ports["${s.targetPort}"].nodePort`, s.nodePort, `${this.node.path} ports["${s.targetPort}"]`);
      }
      byName.set(declared.name, port);
      // Service port names equal container port names; targetPort becomes the name below.
      ports.push({ name: declared.name, port, targetPort: declared.number, nodePort: s.nodePort });
    }
    v.unique(this, 'ports.port', ports.map((p) => p.port));
    this.portsByName = byName;

    this.service = new kplus.Service(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels: { ...target.identityLabels } },
      type: this.type,
      ports,
    });
    for (const [k, val] of Object.entries(target.selectorLabels)) this.service.selectLabel(k, val);
    const obj = ApiObject.of(this.service);
    // cdk8s-plus renders `externalIPs: []`; drop the noise.
    obj.addJsonPatch(JsonPatch.remove('/spec/externalIPs'));
    // Target the container port by name (cdk8s-plus only takes a number): the Service keeps working when a
    // workload listens on another number, e.g. go-ok's Pod on 8080/8443 in production behind Service ports 80/443.
    // Patches apply before the typed rendering, which reads an IntOrString object here.
    ports.forEach((p, i) => obj.addJsonPatch(JsonPatch.replace(`/spec/ports/${i}/targetPort`, IntOrString.fromString(p.name!))));
  }

  /** The port number for a target port name (the only port, when there is one). */
  public port(targetPort?: string): number {
    const name = targetPort ?? (this.portsByName.size === 1 ? [...this.portsByName.keys()][0] : undefined);
    const p = name === undefined ? undefined : this.portsByName.get(name);
    if (p === undefined) throw ValidationError.of(this, 'port', targetPort, `must be one of ${[...this.portsByName.keys()].join(', ')}`);
    return p;
  }

  /** The in-cluster address peers use, `<service>.<namespace>:<port>`, as the shop's programs expect it. */
  public address(targetPort?: string): string {
    return `${this.name}.${this.namespace}:${this.port(targetPort)}`;
  }
}
