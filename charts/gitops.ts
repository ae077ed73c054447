import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, App } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { Construct } from 'constructs';
import { AppChart, AppNamespace, GitOpsConfig, NamespaceHome, platformOf, projectRoot } from '../lib/core';
import { FluxSync, OwnedResource, resourceOf } from '../lib/gitops';

/**
 * The GitOps bootstrap of an environment (platform.gitops), written to dist/<env>/flux.k8s.yaml: the one file a
 * platform admin applies by hand, once per cluster (README, "GitOps"). It holds the environment's Namespaces
 * (tenancy boundaries, created before the reconciler can be given anything in them), the namespace of the Flux
 * objects, the reconciler's ServiceAccount with a Role per namespace, and the sources and Kustomizations.
 * Create it before the other charts (they put their Namespaces here), and call grantReconciler() after them.
 */
export class GitOpsChart extends AppChart implements NamespaceHome {
  public readonly isNamespaceHome = true;
  public readonly sync: FluxSync;

  constructor(scope: Construct, id: string, props: { environment: string; config: GitOpsConfig; namespace?: string }) {
    super(scope, id, { partOf: 'gitops' });
    const ns = new AppNamespace(this, 'Namespace', { name: props.namespace ?? 'gitops', podSecurity: platformOf(this).podSecurity });
    // No NetworkPolicy: no pod runs in it (the controllers run where Flux is installed), and a policy that selects
    // no pod is what kube-score rejects. Pod Security restricted still bounds what could be started there.
    this.sync = new FluxSync(this, 'Flux', { environment: props.environment, config: props.config, namespace: ns.name, crds: sharedCrds() });
  }

  /** Grants the reconciler, in each namespace, exactly the resources the other charts of `app` write there. */
  public grantReconciler(app: App): void {
    const owned = new Map<string, Map<string, OwnedResource>>();
    for (const chart of app.charts) {
      if (chart === this) continue;
      for (const o of chart.node.findAll()) {
        if (!(o instanceof ApiObject)) continue;
        const ns = o.metadata.namespace;
        if (!ns) throw new Error(`${o.node.path}: ${o.kind} ${o.name} is cluster-scoped; a GitOps environment's reconciler writes only inside its namespaces (put it in the bootstrap, charts/gitops.ts)`);
        const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
        const r = { group, resource: resourceOf(o.kind) };
        const m = owned.get(ns) ?? new Map<string, OwnedResource>();
        m.set(`${r.group}/${r.resource}`, r);
        owned.set(ns, m);
      }
    }
    for (const ns of [...owned.keys()].sort()) this.sync.grant(ns, [...owned.get(ns)!.values()]);
  }
}

/** The CRDs of crds/ the platform Kustomization applies: all but Flux's own (its installation owns those). */
function sharedCrds(): string[] {
  const dir = path.join(projectRoot(), 'crds');
  return fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/\.toolkit\.fluxcd\.io_/.test(f)).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf-8')).map((d) => d.toJS()))
    .filter((o) => o?.kind === 'CustomResourceDefinition').map((o) => o.metadata.name as string);
}
