import * as fs from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { local } from '../environments/local';
import { production } from '../environments/production';
import { PlatformChart } from '../charts/platform';
import { synthEnvironment } from './support';

// The sealed-secrets controller of the platform chart (RBAC necessity is proven against a real API server by
// test/cluster/sealed-secrets.sh; this checks the model).
describe('sealed-secrets controller', () => {
  const objects = synthEnvironment(local).platform;
  const byKind = (k: string) => objects.filter((o) => o.kind === k);

  test('the deployed image, kubeseal and the cluster tests pin the same release', () => {
    // kubeseal and the test controller are built from this pin (tools/kubeseal/go.mod); the image is what local runs.
    const goMod = fs.readFileSync(path.join(__dirname, '..', 'tools', 'kubeseal', 'go.mod'), 'utf-8');
    const pinned = /^replace github\.com\/bitnami\/sealed-secrets => github\.com\/bitnami-labs\/sealed-secrets v(\S+)$/m.exec(goMod)?.[1];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const image: string = byKind('Deployment')[0].spec.template.spec.containers[0].image;
    expect(image).toBe(`docker.io/bitnami/sealed-secrets-controller:${pinned}`);
    expect(byKind('Deployment')[0].metadata.labels?.['app.kubernetes.io/version']).toBe(pinned);
  });

  test('local deploys it; production (the platform team runs it) does not', () => {
    expect(Object.keys(synthEnvironment(local))).toContain('platform');
    expect(Object.keys(synthEnvironment(production))).not.toContain('platform');
  });

  test('least privilege: exactly the derived rules, no delete, no wildcard, bound to its own ServiceAccount only', () => {
    expect(byKind('ClusterRole')).toHaveLength(1);
    expect(byKind('Role')).toHaveLength(0);
    const rules = byKind('ClusterRole')[0].rules;
    // Written out here, not read from the constant that made them: a change to the controller's permissions is a
    // change to this test too (test/cluster/sealed-secrets.sh proves each rule necessary on a real API server).
    expect(rules).toEqual([
      { apiGroups: ['bitnami.com'], resources: ['sealedsecrets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['bitnami.com'], resources: ['sealedsecrets/status'], verbs: ['update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const all = JSON.stringify(rules);
    expect(all).not.toMatch(/"\*"|"delete"|"deletecollection"|"escalate"|"bind"|"impersonate"/);
    const binding = byKind('ClusterRoleBinding')[0];
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'sealed-secrets-controller', namespace: 'kube-system' }]);
    expect(binding.roleRef.name).toBe(byKind('ClusterRole')[0].metadata.name);
  });

  test('hardened like our own workloads, on the pinned image, with its token', () => {
    const spec = byKind('Deployment')[0].spec.template.spec;
    expect(spec.serviceAccountName).toBe('sealed-secrets-controller');
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = spec.containers;
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources.limits).toBeDefined();
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
  });

  test('the Service kubeseal fetches the certificate through selects the controller pods', () => {
    const svc = byKind('Service')[0];
    const tmpl = byKind('Deployment')[0].spec.template.metadata.labels;
    expect(svc.metadata).toMatchObject({ name: 'sealed-secrets-controller', namespace: 'kube-system' });
    expect(Object.entries(svc.spec.selector).every(([k, v]) => tmpl[k] === v)).toBe(true);
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http' }]);
  });

  test('an image of another release is refused', () => {
    expect(() => Testing.synth(new PlatformChart(Testing.app(), 'p', { deployedBy: 'this-repository', image: 'docker.io/bitnami/sealed-secrets-controller:0.39.0' })))
      .toThrow(/must be the release kubeseal is pinned to \(0\.40\.0\)/);
  });
});
