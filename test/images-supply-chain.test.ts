// Offline checks of the supply-chain inputs and of images:lock's pure parts. The registry, lock and build
// themselves are tested for real by test/images/run.sh (npm run test:images), which needs Go tools and buildah.
import { existsSync, readFileSync } from 'fs';
import * as path from 'path';
import { SHOP_SERVICES } from '../images/build';
import { readSha256Sums } from '../lib/workloads/sha256-sums';
import { formatLock, isLoopback, manifestUrl, parseRef, readLock } from '../images/lock';

const ROOT = path.resolve(__dirname, '..');
const SHOP = path.join(ROOT, 'images/shop');

describe('image references', () => {
  test('Docker Hub short names, registries with ports, nested repositories', () => {
    expect(parseRef('nginx:1.28.0-alpine')).toMatchObject({ registry: 'docker.io', repository: 'library/nginx', tag: '1.28.0-alpine' });
    expect(parseRef('cjimti/go-ok:v1')).toMatchObject({ registry: 'docker.io', repository: 'cjimti/go-ok', tag: 'v1' });
    expect(parseRef('127.0.0.1:5000/shop/db:8ec0446')).toMatchObject({ registry: '127.0.0.1:5000', repository: 'shop/db', tag: '8ec0446' });
    expect(parseRef('ghcr.io/acme/shop/api-gateway:8ec0446')).toMatchObject({ registry: 'ghcr.io', repository: 'acme/shop/api-gateway' });
  });

  test('a digest, no tag or latest is refused, naming the reference', () => {
    expect(() => parseRef(`nginx@sha256:${'0'.repeat(64)}`)).toThrow(/^nginx@sha256:0+: give the tag, not a digest/);
    expect(() => parseRef('127.0.0.1:5000/shop/db')).toThrow(/^127.0.0.1:5000\/shop\/db: no tag/);
    expect(() => parseRef('nginx:latest')).toThrow(/"latest" is not a release/);
  });

  test('plain HTTP only for this machine; resolvedFrom is the registry API URL', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true);
    expect(isLoopback('localhost:5000')).toBe(true);
    expect(isLoopback('registry.example:5000')).toBe(false);
    expect(isLoopback('docker.io')).toBe(false);
    expect(manifestUrl(parseRef('nginx:1.28.0-alpine'))).toBe('https://index.docker.io/v2/library/nginx/manifests/1.28.0-alpine');
    expect(manifestUrl(parseRef('127.0.0.1:5000/shop/db:8ec0446'))).toBe('http://127.0.0.1:5000/v2/shop/db/manifests/8ec0446');
  });
});

describe('images.lock.json', () => {
  const file = path.join(ROOT, 'images.lock.json');
  (existsSync(file) ? test : test.skip)('is in the canonical format images:lock writes (sorted keys, 2 spaces, trailing newline)', () => {
    expect(formatLock(readLock(file))).toBe(readFileSync(file, 'utf8'));
  });
});

describe('shop build inputs', () => {
  const services = Object.keys(SHOP_SERVICES).sort();

  test('sources.sha256 pins app.js and package.json of every service, and nothing else', () => {
    const sums = readSha256Sums(path.join(SHOP, 'sources.sha256'));
    expect(Object.keys(sums).sort()).toEqual(services.flatMap((s) => [`${s}/app.js`, `${s}/package.json`]).sort());
  });

  test.each(services)('%s: the lockfile matches the upstream ranges, every package pinned by version and sha512', (svc) => {
    const pkg = JSON.parse(readFileSync(path.join(SHOP, svc, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(path.join(SHOP, svc, 'package-lock.json'), 'utf8'));
    const upstream: Record<string, string> = { 'body-parser': '^1.18.2', express: '^4.16.2' };
    if (svc !== 'db') upstream.request = '^2.83.0';
    expect(pkg.dependencies).toEqual(upstream);
    expect(lock.lockfileVersion).toBe(3);
    expect(lock.packages[''].dependencies).toEqual(upstream);
    const deps = Object.entries<any>(lock.packages).filter(([k]) => k !== '');
    expect(deps.length).toBeGreaterThan(50);
    for (const [name, p] of deps) {
      // No registry URL (like the root package-lock.json): npm ci fetches from the configured registry and
      // checks the integrity hash, so a mirror works and cannot change a byte.
      expect([name, p.resolved]).toEqual([name, undefined]);
      expect([name, p.version]).toEqual([name, expect.stringMatching(/^\d+\.\d+\.\d+$/)]);
      expect([name, p.integrity]).toEqual([name, expect.stringMatching(/^sha512-/)]);
    }
  });

  test('the Containerfile has no RUN and no default base image (the build passes the locked digest)', () => {
    const text = readFileSync(path.join(SHOP, 'Containerfile'), 'utf8');
    expect(text).not.toMatch(/^\s*RUN\b/m);
    expect(text).toMatch(/^ARG BASE_IMAGE$/m);
    expect(text).toMatch(/^USER 10001:10001$/m);
  });
});
