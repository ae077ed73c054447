import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { local } from '../environments/local';
import { production } from '../environments/production';
import { FluxSync, resourceOf } from '../lib/gitops';
import { synthEnvironment } from './support';

// The GitOps bootstrap of charts/gitops.ts (what Flux does with it is test/cluster/flux.sh, on a real API server
// with the real controllers).
describe('GitOps (platform.gitops)', () => {
  const charts = synthEnvironment(production);
  const flux = charts.flux;
  const byKind = (k: string) => flux.filter((o) => o.kind === k);
  const others = Object.entries(charts).filter(([name]) => name !== 'flux').flatMap(([, objects]) => objects);

  test('production has the bootstrap chart; local (push deploy) has none', () => {
    expect(flux).toBeDefined();
    expect(Object.keys(synthEnvironment(local))).not.toContain('flux');
  });

  test('the bootstrap holds every Namespace; the charts Flux applies hold nothing cluster-scoped', () => {
    const namespaces = new Set(others.map((o) => o.metadata.namespace));
    expect(others.filter((o) => !o.metadata.namespace)).toEqual([]);
    expect(byKind('Namespace').map((n) => n.metadata.name).sort()).toEqual(['gitops', ...namespaces].sort());
  });

  test('the reconciler may write, in each namespace, exactly the resources the environment has there', () => {
    const namespaces = [...new Set(others.map((o) => o.metadata.namespace as string))].sort();
    expect(byKind('Role').map((r) => r.metadata.namespace).sort()).toEqual(namespaces);
    for (const ns of namespaces) {
      const role = byKind('Role').find((r) => r.metadata.namespace === ns)!;
      const writable = role.rules.filter((r: any) => r.verbs.includes('patch'))
        .flatMap((r: any) => r.resources.map((res: string) => `${r.apiGroups[0]}/${res}`)).sort();
      const owned = [...new Set(others.filter((o) => o.metadata.namespace === ns)
        .map((o) => `${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}/${resourceOf(o.kind)}`))].sort();
      expect([ns, writable]).toEqual([ns, owned]);
      for (const r of role.rules) expect(r.resources).not.toContain('*');
      const binding = byKind('RoleBinding').find((b) => b.metadata.namespace === ns)!;
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'production-reconciler', namespace: 'gitops' }]);
    }
    expect(byKind('ClusterRole')).toEqual([]);
    expect(byKind('ClusterRoleBinding')).toEqual([]);
  });

  test('plural resource names as RBAC writes them', () => {
    expect(['Ingress', 'NetworkPolicy', 'Service', 'HorizontalPodAutoscaler', 'SealedSecret'].map(resourceOf))
      .toEqual(['ingresses', 'networkpolicies', 'services', 'horizontalpodautoscalers', 'sealedsecrets']);
  });

  test('the environment Kustomization applies dist/production as its reconciler, pruned, after the platform one', () => {
    const [platform, env] = ['production-platform', 'production'].map((n) => byKind('Kustomization').find((k) => k.metadata.name === n)!);
    expect(env.spec).toMatchObject({ path: './dist/production', prune: true, wait: true, serviceAccountName: 'production-reconciler', dependsOn: [{ name: 'production-platform' }] });
    expect(platform.spec).toMatchObject({ path: './', prune: false, healthChecks: [{ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'sealedsecrets.bitnami.com' }] });
    expect(platform.spec.wait).toBeUndefined();
    expect(platform.spec.serviceAccountName).toBeUndefined();
    expect(byKind('ServiceAccount').map((s) => s.metadata.name)).toEqual(['production-reconciler']);
  });

  test('each source leaves exactly its files in the artifact (gitignore rules, last match wins)', () => {
    const ignored = (rules: string, file: string) => {
      let out = false;
      for (const line of rules.split('\n').filter(Boolean)) {
        const neg = line.startsWith('!');
        const pat = (neg ? line.slice(1) : line).replace(/\/$/, '');
        const re = new RegExp(`^${pat.replace(/[.+]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
        if (re.test(`/${file}`)) out = !neg;
      }
      return out;
    };
    const files = [...fs.readdirSync(path.join(__dirname, '..', 'dist', 'production')).map((f) => `dist/production/${f}`),
      ...fs.readdirSync(path.join(__dirname, '..', 'crds')).map((f) => `crds/${f}`), 'dist/local/go-ok.k8s.yaml', 'secrets/production/tls-certs.yaml', 'README.md'];
    const kept = (name: string) => files.filter((f) => !ignored(byKind('GitRepository').find((g) => g.metadata.name === name)!.spec.ignore, f)).sort();
    expect(kept('production')).toEqual(files.filter((f) => f.startsWith('dist/production/') && !f.endsWith('/flux.k8s.yaml')).sort());
    expect(kept('production-platform')).toEqual(['crds/bitnami.com_sealedsecrets.yaml', 'dist/production/flux.k8s.yaml']);
  });

  test('a private repository: secretRef is written into both GitRepositories; none by default', () => {
    const chart = Testing.chart();
    const sync = new FluxSync(chart, 'Flux', { environment: 'production', namespace: 'gitops', crds: [], config: { url: 'https://example.com/x.git', branch: 'main', secretRef: 'git-credentials' } });
    const repos = Testing.synth(chart).filter((o) => o.kind === 'GitRepository');
    expect(repos.map((r) => r.spec.secretRef)).toEqual([{ name: 'git-credentials' }, { name: 'git-credentials' }]);
    expect(sync.sources).toHaveLength(2);
    expect(byKind('GitRepository').map((r) => r.spec.secretRef)).toEqual([undefined, undefined]);
  });

  describe.each([
    ['url', { url: 'git@example.com:x.git', branch: 'main' }, 'platform.gitops.url'],
    ['branch', { url: 'https://example.com/x.git', branch: 'a b' }, 'platform.gitops.branch'],
    ['interval', { url: 'https://example.com/x.git', branch: 'main', interval: { source: 'often' } }, 'platform.gitops.interval.source'],
    ['unknown key', { url: 'https://example.com/x.git', branch: 'main', brnach: 'x' }, 'brnach'],
    ['secretRef (not a DNS-1123 name)', { url: 'https://example.com/x.git', branch: 'main', secretRef: 'Git_Credentials' }, 'platform.gitops.secretRef'],
    ['secretRef (empty)', { url: 'https://example.com/x.git', branch: 'main', secretRef: '' }, 'platform.gitops.secretRef'],
  ])('rejects a bad %s', (_, config, field) => {
    test('naming the field', () => {
      const chart = Testing.chart();
      expect(() => new FluxSync(chart, 'Flux', { environment: 'production', namespace: 'gitops', crds: [], config: config as any })).toThrow(field);
    });
  });
});
