import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { LocatedError, ValidationError, describeError } from './errors';
import { MANAGED_BY } from './labels';
import { omitServerDefaults } from './server-defaults';

export interface AppChartProps {
  /** `app.kubernetes.io/part-of` for every object of the chart: the system's name. */
  readonly partOf: string;
}

/**
 * Helm's install order (helm.sh/helm/v3 pkg/release/util/kind_sorter.go), with SealedSecret beside Secret;
 * kinds not listed go last, as in Helm.
 */
const INSTALL_ORDER = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodDisruptionBudget', 'ServiceAccount',
  'Secret', 'SealedSecret', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition',
  'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'DaemonSet', 'Pod', 'ReplicaSet', 'Deployment',
  'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
];

/**
 * A chart for one system. Hash suffixes are off (names are exactly what the model says), and every object,
 * cdk8s-plus-made ones included, carries `part-of` and `managed-by`. Fields equal to the server's default are
 * left out, so re-applying unchanged output is a no-op for kubectl.
 */
export class AppChart extends Chart {
  constructor(scope: Construct, id: string, props: AppChartProps) {
    super(scope, id, {
      disableResourceNameHashes: true,
      labels: { 'app.kubernetes.io/part-of': props.partOf, 'app.kubernetes.io/managed-by': MANAGED_BY },
    });
  }

  /**
   * The chart's objects as synth writes them: in Helm's install order (a Namespace before what lives in it, a
   * ServiceAccount before the Pod that runs as it, NetworkPolicies before the pods they fence), so one plain
   * `kubectl apply -f` of the file works on an empty cluster; and without server-default fields
   * (see server-defaults.ts). The sort is stable: objects of one kind keep the model's order.
   */
  public toJson(): any[] {
    const rank = (o: any) => { const i = INSTALL_ORDER.indexOf(o.kind); return i < 0 ? INSTALL_ORDER.length : i; };
    return this.rendered().map(omitServerDefaults).map((o, i) => ({ o, i }))
      .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map(({ o }) => o);
  }

  /**
   * cdk8s renders lazily, so a bad value (a Lazy that throws, a Duration or Size error) surfaces here with no
   * construct in its message: find the object whose rendering fails and say where it is.
   */
  private rendered(): any[] {
    try {
      return super.toJson();
    } catch (e) {
      if (e instanceof ValidationError || e instanceof LocatedError) throw e;
      for (const obj of this.node.findAll().filter((c): c is ApiObject => ApiObject.isApiObject(c))) {
        try {
          obj.toJson();
        } catch (inner) {
          if (inner instanceof ValidationError || inner instanceof LocatedError) throw inner;
          throw new LocatedError(obj.node.path, `${describeError(inner)} (while rendering ${obj.kind} ${obj.name})`, inner);
        }
      }
      throw new LocatedError(this.node.path, `${describeError(e)} (while rendering the chart)`, e);
    }
  }
}
