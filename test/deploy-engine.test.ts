// The deploy tool's engine (deploy/engine.ts) on its own, without a cluster: ApplySet ids as kubectl computes them,
// field-by-field changes with the manager that holds each field (drift), what a Namespace deletion takes with it,
// and the controller lookup of deploy/deploy.ts against the model. The tool itself runs in test/cluster/run.sh.
import { ENVIRONMENTS } from '../environments';
import { applysetId, changes, describe as describeChange, holds, K8sObject, namespaceContent, ownershipMoves, PART_OF } from '../deploy/engine';
import { controllerOf } from '../deploy/deploy';
import { acquireLock } from '../deploy/lock';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const scaled: K8sObject = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: {
    name: 'order-service', namespace: 'shop', labels: { app: 'order-service' }, annotations: { 'by-hand': 'kept' },
    managedFields: [
      { manager: 'k8s-infra-production', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } } } },
      { manager: 'kubectl', operation: 'Update', subresource: 'scale', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      { manager: 'kubectl-annotate', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:by-hand': {} } } } },
    ],
  },
  spec: { replicas: 5, template: { spec: { containers: [{ name: 'app', image: 'a:1' }] } } },
};

describe('deploy engine', () => {
  test('ApplySet ids are kubectl\'s (KEP-3659: base64url(sha256("<name>.<namespace>.Secret.")))', () => {
    // the value deploy.sh computed with sha256sum | base64 for the same parent
    expect(applysetId('default', 'k8s-infra-production-cluster')).toBe('applyset-SNhaTIH7RLWXpf4dONbbssIqx13yah0sL1c9Vulv3dc-v1');
  });

  test('a field someone else holds is a change with its old and new value and its manager; untouched fields are not', () => {
    const next = { ...scaled, spec: { replicas: 2, template: scaled.spec.template } };
    const cs = changes(scaled, next);
    expect(cs.map((c) => describeChange(c, 'k8s-infra-production', false))).toEqual(['.spec.replicas: 5 -> 2   (drift: held by kubectl (scale))']);
    expect(describeChange(cs[0], 'k8s-infra-production', true)).toBe('.spec.replicas: 5 -> 2   (drift: taken back from kubectl (scale))');
    // the annotation the model does not set stays in the apply result: no change
    expect(changes(scaled, scaled)).toEqual([]);
  });

  test('list elements are matched by name, and their fields by the managedFields key', () => {
    const next = { ...scaled, spec: { ...scaled.spec, template: { spec: { containers: [{ name: 'app', image: 'a:2' }] } } } };
    const cs = changes(scaled, next);
    expect(cs.map((c) => describeChange(c, 'k8s-infra-production', false))).toEqual(['.spec.template.spec.containers[0].image: "a:1" -> "a:2"']);
    expect(holds(scaled.metadata.managedFields[0].fieldsV1, ['spec', 'template', 'spec', 'containers', 0, 'image'], scaled)).toBe(true);
    expect(holds(scaled.metadata.managedFields[1].fieldsV1, ['spec', 'template', 'spec', 'containers', 0, 'image'], scaled)).toBe(false);
  });

  test('keys that are not identifiers are quoted; a taken-over label names its manager', () => {
    const live: K8sObject = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n', labels: { 'app.kubernetes.io/name': 'drifted' }, managedFields: [{ manager: 'kubectl-label', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/name': {} } } } }] },
      data: { 'proxy.conf': 'x' },
    };
    const next = { ...live, metadata: { ...live.metadata, labels: { 'app.kubernetes.io/name': 'go-ok' } } };
    expect(changes(live, next).map((c) => describeChange(c, 'me', false))).toEqual(['.metadata.labels["app.kubernetes.io/name"]: "drifted" -> "go-ok"   (drift: held by kubectl-label)']);
  });

  test('field ownership moving to us counts, other managers\' entries do not', () => {
    const taken = { ...scaled, metadata: { ...scaled.metadata, managedFields: [{ ...scaled.metadata.managedFields[0], fieldsV1: { 'f:spec': { 'f:replicas': {} } } }, scaled.metadata.managedFields[2]] } };
    expect(ownershipMoves(scaled, taken, 'k8s-infra-production')).toBe(true);
    expect(ownershipMoves(scaled, { ...scaled, metadata: { ...scaled.metadata, managedFields: [scaled.metadata.managedFields[0]] } }, 'k8s-infra-production')).toBe(false);
  });

  test('a Namespace\'s content: members, what controllers made from them and the control plane\'s defaults are ours', () => {
    const id = applysetId('shop', 'k8s-infra-production');
    const o = (kind: string, name: string, extra: object = {}) => ({ apiVersion: kind === 'ReplicaSet' ? 'apps/v1' : 'v1', kind, metadata: { name, namespace: 'shop', uid: `${kind}-${name}`, ...extra } }) as K8sObject;
    const items = [
      o('Service', 'api', { labels: { [PART_OF]: id } }), o('Endpoints', 'api'),
      o('Deployment', 'api', { labels: { [PART_OF]: id } }),
      o('ReplicaSet', 'api-1', { ownerReferences: [{ uid: 'Deployment-api' }] }), o('Pod', 'api-1-x', { ownerReferences: [{ uid: 'ReplicaSet-api-1' }] }),
      o('ServiceAccount', 'default'), o('ConfigMap', 'kube-root-ca.crt'),
      o('ConfigMap', 'by-hand'), o('ConfigMap', 'going', { deletionTimestamp: 'now' }),
    ];
    expect(namespaceContent(items, [id]).map((r) => r.line)).toEqual([
      'ours  Service/api', 'ours  Endpoints/api', 'ours  Deployment/api', 'ours  ReplicaSet.apps/api-1', 'ours  Pod/api-1-x',
      'ours  ServiceAccount/default', 'ours  ConfigMap/kube-root-ca.crt', 'OTHER ConfigMap/by-hand',
    ]);
  });

  test('the controller the deploy asks to verify SealedSecrets is the one the model names, for every environment', () => {
    for (const env of ENVIRONMENTS) {
      const c = env.sealedSecretsController;
      expect([env.name, controllerOf(env.name)]).toEqual([env.name, { namespace: c?.namespace ?? 'kube-system', name: c?.name ?? 'sealed-secrets-controller' }]);
    }
    expect(controllerOf('not-an-environment')).toEqual({ namespace: 'kube-system', name: 'sealed-secrets-controller' });
  });
});

describe('deploy lock', () => {
  test('the lock file is created whole with its holder, so a refusal always names it; a dead holder\'s lock is taken over', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-lock-'));
    try {
      const file = path.join(dir, 'deploy.lock');
      expect(acquireLock(file, 'env apply, user a')).toEqual({ ok: true, stale: undefined });
      const held = fs.readFileSync(file, 'utf-8');
      expect(held).toMatch(new RegExp(`^pid ${process.pid} \\(env apply, user a, host ${os.hostname()}, since \\d{4}-`));
      expect(acquireLock(file, 'env diff, user b')).toEqual({ ok: false, holder: held.trim() });
      fs.writeFileSync(file, `pid 999999 (env apply, user gone, host ${os.hostname()}, since 2000-01-01T00:00:00Z)\n`);
      expect(acquireLock(file, 'env diff, user b')).toEqual({ ok: true, stale: `pid 999999 (env apply, user gone, host ${os.hostname()}, since 2000-01-01T00:00:00Z)` });
      fs.writeFileSync(file, '');   // the old deploy.sh's flock file, left empty
      expect(acquireLock(file, 'env diff, user b')).toMatchObject({ ok: true });
      expect(fs.readdirSync(dir)).toEqual(['deploy.lock']);   // no temporary files left
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
