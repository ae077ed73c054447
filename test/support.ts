import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { buildApp } from '../environments/app';
import { EnvironmentConfig } from '../environments';

/** A Kubernetes object as synthesized. */
export type K8sObject = {
  apiVersion: string; kind: string; spec?: any; [k: string]: any;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

/** Every chart of an environment, synthesized in memory: chart id -> objects. */
export function synthEnvironment(env: EnvironmentConfig): Record<string, K8sObject[]> {
  const app = buildApp(env, path.join(os.tmpdir(), 'unused'));
  return Object.fromEntries(app.charts.map((c) => [c.node.id, Testing.synth(c) as K8sObject[]]));
}

export function allObjects(env: EnvironmentConfig): K8sObject[] {
  return Object.values(synthEnvironment(env)).flat();
}

/** The pod template (Deployment) or spec (Pod) of a workload object, with its labels. */
export function podTemplates(objects: K8sObject[]): { owner: K8sObject; labels: Record<string, string>; spec: any }[] {
  return objects.flatMap((o) => {
    if (o.kind === 'Pod') return [{ owner: o, labels: o.metadata.labels ?? {}, spec: o.spec }];
    if (['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) {
      return [{ owner: o, labels: o.spec.template.metadata.labels ?? {}, spec: o.spec.template.spec }];
    }
    return [];
  });
}

export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}
