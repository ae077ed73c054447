import { Construct } from 'constructs';
import { KubeNetworkPolicy, IntOrString, NetworkPolicyPeer, NetworkPolicyPort } from '../../imports/k8s';
import { ValidationError } from '../core/errors';
import * as v from '../core/validation';
import { identityLabels } from '../core/labels';
import { IExposable } from '../workloads/workload';

/** Who may talk to a workload, or whom it may talk to. */
export type TrafficPeer =
  | { readonly workload: IExposable }
  | { readonly namespace: string; readonly podLabels: Readonly<Record<string, string>> }
  /** Addresses outside the cluster on the given TCP ports (private ranges excluded). */
  | { readonly internet: readonly number[] };

export interface DefaultDenyProps {
  readonly namespace: string;
  /** The system the namespace belongs to (`app.kubernetes.io/name` of the policy). */
  readonly system: string;
}

/** Denies every ingress and egress flow in a namespace that no other policy allows. */
export class DefaultDenyNetworkPolicy extends Construct {
  /** The namespace it closes. */
  public readonly namespace: string;

  constructor(scope: Construct, id: string, props: DefaultDenyProps) {
    super(scope, id);
    this.namespace = props.namespace;
    new KubeNetworkPolicy(this, 'Resource', {
      metadata: {
        name: 'default-deny',
        namespace: props.namespace,
        labels: identityLabels({ name: props.system, instance: 'default-deny', component: 'network-policy' }),
      },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
  }
}

export interface WorkloadNetworkPolicyProps {
  /** The workload whose pods the policy selects (by exactly one label, as Polaris requires). */
  readonly target: IExposable;
  /** @default nobody */
  readonly allowFrom?: readonly TrafficPeer[];
  /**
   * Names of the target's ports that `allowFrom` may reach.
   * @default every port the target declares
   */
  readonly ingressPorts?: readonly string[];
  /** @default nowhere but DNS */
  readonly allowTo?: readonly TrafficPeer[];
}

/** One rule of a WorkloadNetworkPolicy in model terms: a peer and the ports it may be reached on / may reach. */
export interface PolicyFlow {
  readonly peer: TrafficPeer;
  readonly ports: readonly { readonly protocol: 'TCP' | 'UDP'; readonly port: number }[];
}

/** The cluster resolver every workload may ask (the first egress rule of every WorkloadNetworkPolicy). */
export const CLUSTER_DNS: TrafficPeer = { namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' } };

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'];

/**
 * The flows one workload needs: ingress from the given peers to the ports it declares, egress to the given peers'
 * declared ports, and DNS to kube-system. Used with DefaultDenyNetworkPolicy.
 */
export class WorkloadNetworkPolicy extends Construct {
  /** The workload whose pods it selects. */
  public readonly target: IExposable;
  /** What it admits and allows out, rule by rule: the object is rendered from these (docs/environments draws them). */
  public readonly ingress: readonly PolicyFlow[];
  public readonly egress: readonly PolicyFlow[];

  constructor(scope: Construct, id: string, props: WorkloadNetworkPolicyProps) {
    super(scope, id);
    const t = props.target;
    this.target = t;
    const [key, value] = Object.entries(t.selectorLabels).find(([k]) => k === 'app') ?? Object.entries(t.selectorLabels)[0];
    for (const name of props.ingressPorts ?? []) {
      if (!t.ports.some((p) => p.name === name)) {
        throw ValidationError.of(this, 'ingressPorts', name, `must name a port declared by ${t.node.path}: ${t.ports.map((p) => p.name).join(', ')}`);
      }
    }
    const ownPorts = t.ports
      .filter((p) => !props.ingressPorts || props.ingressPorts.includes(p.name))
      .map((p) => ({ protocol: 'TCP' as const, port: p.number }));
    [...(props.allowFrom ?? []), ...(props.allowTo ?? [])].forEach((peer, i) => this.checkPeer(peer, i < (props.allowFrom ?? []).length ? 'allowFrom' : 'allowTo'));
    this.ingress = (props.allowFrom ?? []).map((peer) => {
      if (ownPorts.length === 0) throw ValidationError.of(this, 'allowFrom', describePeer(peer), `${t.name} declares no port to receive traffic on`);
      return { peer, ports: ownPorts };
    });
    this.egress = [
      // DNS: the cluster resolver in kube-system, over UDP and TCP.
      { peer: CLUSTER_DNS, ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
      ...(props.allowTo ?? []).map((peer) => ({ peer, ports: this.peerPorts(peer) })),
    ];
    const render = (ports: PolicyFlow['ports']): NetworkPolicyPort[] => ports.map((p) => ({ protocol: p.protocol, port: IntOrString.fromNumber(p.port) }));
    const ingress = this.ingress.map((f) => ({ from: [this.peer(f.peer, t.namespace)], ports: render(f.ports) }));
    const egress = this.egress.map((f) => ({ to: [this.peer(f.peer, t.namespace)], ports: render(f.ports) }));
    new KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: t.name, namespace: t.namespace, labels: { ...t.identityLabels } },
      // No `ingress` key when nothing may come in: the API server drops an empty list, and a field it drops would
      // make every re-apply a change.
      spec: { podSelector: { matchLabels: { [key]: value } }, policyTypes: ['Ingress', 'Egress'], ...(ingress.length ? { ingress } : {}), egress },
    });
  }

  /** A peer's namespace, labels and ports get the API server's syntax checks: a typo would admit nobody, silently. */
  private checkPeer(peer: TrafficPeer, field: string): void {
    if ('namespace' in peer) {
      v.dnsLabel(this, `${field} namespace`, peer.namespace);
      if (!peer.podLabels || Object.keys(peer.podLabels).length === 0) {
        throw ValidationError.of(this, `${field} podLabels`, peer.podLabels, 'must select the peer pods by at least one label');
      }
      v.labels(this, `${field} podLabels`, { ...peer.podLabels });
    } else if ('internet' in peer) {
      if (peer.internet.length === 0) throw ValidationError.of(this, `${field} internet`, [], 'must list at least one port');
      for (const p of peer.internet) v.port(this, `${field} internet port`, p);
    }
  }

  private peer(peer: TrafficPeer, ownNamespace: string): NetworkPolicyPeer {
    if ('workload' in peer) {
      const w = peer.workload;
      return {
        podSelector: { matchLabels: { ...w.selectorLabels } },
        ...(w.namespace !== ownNamespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': w.namespace } } } : {}),
      };
    }
    if ('internet' in peer) return { ipBlock: { cidr: '0.0.0.0/0', except: PRIVATE_RANGES } };
    return {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': peer.namespace } },
      podSelector: { matchLabels: { ...peer.podLabels } },
    };
  }

  private peerPorts(peer: TrafficPeer): PolicyFlow['ports'] {
    const ports = 'workload' in peer ? peer.workload.ports.map((p) => p.number) : 'internet' in peer ? peer.internet : [];
    if (ports.length === 0) throw ValidationError.of(this, 'allowTo', describePeer(peer), 'has no port to connect to');
    return ports.map((port) => ({ protocol: 'TCP', port }));
  }
}

function describePeer(peer: TrafficPeer): string {
  return 'workload' in peer ? peer.workload.node.path : 'internet' in peer ? `internet:${peer.internet.join(',')}` : `${peer.namespace}/${JSON.stringify(peer.podLabels)}`;
}
