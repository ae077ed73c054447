import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Chart, Testing } from 'cdk8s';
import { production } from '../environments/production';
import { AppChart } from '../lib/core';
import { AppDeployment, IMAGE_LOCK_FILE, RESTRICTED, applyImagePinning } from '../lib/workloads';
import { K8sObject, allObjects, podTemplates } from './support';

const root = path.join(__dirname, '..');
const lock = JSON.parse(fs.readFileSync(path.join(root, IMAGE_LOCK_FILE), 'utf-8'));

describe('production runs images by digest (Checkov CKV_K8S_43)', () => {
  const objects = allObjects(production);
  const containers = podTemplates(objects).flatMap((t) => [...(t.spec.initContainers ?? []), ...t.spec.containers].map((c: any) => ({ owner: t.owner, c })));
  const exceptions = production.platform!.imagePinning!.exceptions ?? {};

  test.each(containers.map(({ owner, c }) => [`${owner.kind}/${owner.metadata.name} ${c.name}`, owner, c] as const))('%s', (_id, owner, c) => {
    const [ref, digest] = c.image.split('@');
    if (digest) {
      // The digest is the lock's, for the reference the model wrote: dist/ and the lock cannot drift apart.
      expect(lock.images[ref]?.digest).toBe(digest);
    } else {
      // Only a documented exception stays on a tag, and the workload carries the reason for scanners.
      expect(Object.keys(exceptions)).toContain(ref);
      expect(owner.metadata.annotations?.['checkov.io/skip1']).toBe(`CKV_K8S_43=${exceptions[ref]}`);
    }
  });

  test('every lock entry records its digest, when and from where', () => {
    for (const [ref, e] of Object.entries<any>(lock.images)) {
      expect([ref, e.digest]).toEqual([ref, expect.stringMatching(/^sha256:[a-f0-9]{64}$/)]);
      expect(Number.isNaN(Date.parse(e.resolvedAt))).toBe(false);
      expect(e.resolvedFrom.length).toBeGreaterThan(10);
    }
  });
});

describe('image pinning', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'image-lock-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const writeLock = (content: unknown) => fs.writeFileSync(path.join(tmp, IMAGE_LOCK_FILE), typeof content === 'string' ? content : JSON.stringify(content));
  const build = (image: string, exceptions?: Record<string, string>) => {
    const app = Testing.app();
    applyImagePinning(app, { exceptions }, tmp);
    const chart = new AppChart(app, 'c', { partOf: 'x' });
    new AppDeployment(chart, 'web', {
      name: 'web', namespace: 'ns', identity: { name: 'web', component: 'web', version: '1' },
      containers: [{ name: 'web', image, resources: { cpu: { request: '1m', limit: '1m' }, memory: { request: '1Mi', limit: '1Mi' }, ephemeralStorage: { request: '1Mi', limit: '1Mi' } }, security: RESTRICTED }],
    });
    return (Testing.synth(chart as Chart) as K8sObject[])[0];
  };
  const resolved = { resolvedAt: '2026-11-26T00:00:00Z', resolvedFrom: 'test' };

  test('a locked image runs as ref@digest', () => {
    writeLock({ images: { 'web:1': { digest: digest('a'), ...resolved } } });
    expect(build('web:1').spec.template.spec.containers[0].image).toBe(`web:1@${digest('a')}`);
  });

  test('the lock changes the output only when the lock changes', () => {
    writeLock({ images: { 'web:1': { digest: digest('b'), ...resolved } } });
    expect(build('web:1').spec.template.spec.containers[0].image).toBe(`web:1@${digest('b')}`);
  });

  test('an image already pinned by digest in the model is left as written', () => {
    writeLock({ images: {} });
    expect(build(`web@${digest('c')}`).spec.template.spec.containers[0].image).toBe(`web@${digest('c')}`);
  });

  test('an exception stays on its tag and carries the reason as a Checkov suppression', () => {
    writeLock({ images: {} });
    const d = build('web:1', { 'web:1': 'not resolvable here' });
    expect(d.spec.template.spec.containers[0].image).toBe('web:1');
    expect(d.metadata.annotations!['checkov.io/skip1']).toBe('CKV_K8S_43=not resolvable here');
  });

  test.each([
    ['an image with no lock entry', { images: {} }, 'web:1', undefined, /c\/web: invalid container "web" image "web:1": must have a digest in images.lock.json .*npm run images:lock -- web:1/],
    ['a malformed digest', { images: { 'web:1': { digest: 'sha256:abc', ...resolved } } }, 'web:1', undefined, /invalid image lock entry "web:1" digest "sha256:abc": must be sha256:<64 lowercase hex>/],
    ['a lock that is not JSON', '{ nope', 'web:1', undefined, /invalid image lock ".*images.lock.json": must be a readable JSON file/],
    ['a lock without images', { digests: {} }, 'web:1', undefined, /must hold an object "images"/],
    ['an exception without a reason', { images: {} }, 'web:1', { 'web:1': ' ' }, /invalid platform.imagePinning.exceptions\["web:1"\]/],
  ])('%s is an error that says what to do', (_n, content, image, exceptions, message) => {
    writeLock(content);
    expect(() => build(image, exceptions as Record<string, string> | undefined)).toThrow(message);
  });

  test('an environment that does not pin reads no lock at all', () => {
    const app = new App();
    expect(() => applyImagePinning(app, undefined, '/nonexistent')).not.toThrow();
  });
});
