// npm run images:build -- <service|all>...
//
// Builds the shop's images from the pinned upstream commit, pushes them and records their digests in the lock:
//   1. downloads <service>/app.js and package.json from the source URL and checks each against
//      images/shop/sources.sha256 (a mismatch stops the build, naming the file, expected and actual sha256);
//   2. `npm ci --omit=dev --ignore-scripts` on the host from the committed images/shop/<service>/package-lock.json
//      (npm ci also fails when the downloaded package.json's ranges disagree with the lockfile);
//   3. buildah (daemonless, vfs storage in a scratch folder) builds images/shop/Containerfile FROM the base image's
//      locked digest, for every platform, as one multi-arch index (COPY only: no emulation needed);
//   4. pushes the index to $IMAGES_REGISTRY/<service>:<tag> and locks that reference (npm run images:lock's code).
//
// Env: IMAGES_REGISTRY (required, e.g. ghcr.io/acme/shop; plain HTTP only for 127.0.0.1/localhost),
//      IMAGES_LOCK, IMAGES_PLATFORMS (default linux/amd64,linux/arm64),
//      SHOP_BASE_IMAGE (default below; must have a lock entry), SHOP_SOURCES_URL (default: the pinned commit on
//      raw.githubusercontent.com), SHOP_SOURCES_SHA256 (default images/shop/sources.sha256),
//      SHOP_LOCKFILES_DIR (default images/shop), SHOP_IMAGE_TAG (default the short commit),
//      BUILDAH (binary, default buildah on PATH), BUILDAH_STORAGE (keep buildah's storage there between runs
//      instead of a fresh scratch folder).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSha256Sums } from '../lib/workloads/sha256-sums';
import { crane, describe, isLoopback, lockPath, lockRefs, parseRef, readLock, ROOT, shortPath, wantedPlatforms } from './lock';

export const SHOP_COMMIT = '8ec04469d4ca0b6cea96e5061cf896967220f607';
const SHOP_REPO = 'https://github.com/EvgenyKhaliper/nodejs-microservices-demo';
const DEFAULT_SOURCES_URL = `https://raw.githubusercontent.com/EvgenyKhaliper/nodejs-microservices-demo/${SHOP_COMMIT}`;
// Current Node LTS line (24, "Krypton"); the lock's digest is the pin, images:lock moves it deliberately.
export const DEFAULT_BASE_IMAGE = 'node:24-alpine';
// Ports are hard-coded in upstream's app.js; EXPOSE documents them.
export const SHOP_SERVICES: Record<string, number> = {
  'api-gateway': 3000,
  'payment-service': 3001,
  'order-service': 3002,
  db: 3004,
};
const SHOP_DIR = path.join(ROOT, 'images/shop');
const SOURCE_FILES = ['app.js', 'package.json'];

const env = (name: string, fallback: string) => process.env[name] || fallback;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const size = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

async function download(url: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000), redirect: 'follow' });
  } catch (e) {
    throw new Error(`download ${url}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  if (!res.ok) throw new Error(`download ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function run(cmd: string, args: string[], opts: { cwd?: string; quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let all = '';
    child.stdout.on('data', (d) => { out += d; all += d; });
    child.stderr.on('data', (d) => { all += d; });
    child.on('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) {
        if (!opts.quiet && all.trim()) process.stdout.write(all.replace(/^/gm, '    '));
        resolve(out);
      } else {
        reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}:\n${all.trim().split('\n').slice(-25).join('\n')}`));
      }
    });
  });
}

function which(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, cmd)));
}

// Fully qualified, by digest: buildah needs no short-name resolution and never sees a tag.
function pinnedBase(ref: string): { image: string; registry: string } {
  const lock = readLock();
  const entry = lock.images[ref];
  if (!entry) {
    throw new Error(`base image ${ref} has no entry in ${lockPath()}: run npm run images:lock -- ${ref}`);
  }
  const missing = wantedPlatforms().filter((p) => entry.platforms && !entry.platforms.includes(p));
  if (missing.length) {
    throw new Error(`base image ${ref}@${entry.digest} offers no ${missing.join(', ')} image (it has ${entry.platforms?.join(', ')})`);
  }
  const p = parseRef(ref);
  return { image: `${p.registry}/${p.repository}@${entry.digest}`, registry: p.registry };
}

// app.js + package.json, verified, then node_modules from the committed lockfile.
async function prepareContext(svc: string, dir: string, sums: Readonly<Record<string, string>>): Promise<void> {
  const base = env('SHOP_SOURCES_URL', DEFAULT_SOURCES_URL).replace(/\/+$/, '');
  mkdirSync(dir, { recursive: true });
  for (const f of SOURCE_FILES) {
    const name = `${svc}/${f}`;
    const expected = sums[name];
    if (!expected) throw new Error(`${name}: no sha256 in the checksum file; refusing to build from an unverified file`);
    const url = `${base}/${name}`;
    const body = await download(url);
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== expected) {
      throw new Error(`${name}: sha256 mismatch (downloaded from ${url}): expected ${expected}, actual ${actual}`);
    }
    writeFileSync(path.join(dir, f), body);
  }
  const lockfile = path.join(env('SHOP_LOCKFILES_DIR', SHOP_DIR), svc, 'package-lock.json');
  if (!existsSync(lockfile)) throw new Error(`${svc}: no lockfile ${lockfile} (images/gen-shop-lockfiles.sh writes it)`);
  copyFileSync(lockfile, path.join(dir, 'package-lock.json'));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, quiet: true });
  // Same modes whatever the umask: files 0644, dirs 0755 (part of the layer's digest).
  const normalize = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      for (const e of readdirSync(p)) normalize(path.join(p, e));
    } else chmodSync(p, st.mode & 0o111 ? 0o755 : 0o644);
  };
  normalize(dir);
}

interface BuildResult {
  svc: string;
  ref: string;
  digest: string;
  ms: number;
  phases: string;
}

async function buildOne(svc: string, work: string, buildah: string[], base: { image: string; registry: string }, sums: Readonly<Record<string, string>>): Promise<BuildResult> {
  const t0 = Date.now();
  const registry = process.env.IMAGES_REGISTRY!.replace(/\/+$/, '');
  const tag = env('SHOP_IMAGE_TAG', SHOP_COMMIT.slice(0, 7));
  const ref = `${registry}/${svc}:${tag}`;
  const pushTarget = parseRef(ref); // validates the name before any work
  const ctx = path.join(work, svc, 'app');
  console.log(`${svc}: download sources from ${env('SHOP_SOURCES_URL', DEFAULT_SOURCES_URL)}, check sha256, npm ci`);
  await prepareContext(svc, ctx, sums);
  const tPrepared = Date.now();
  const list = `localhost/k8s-infra-build/${svc}:${tag}`;
  await run(buildah[0], [...buildah.slice(1), 'manifest', 'rm', list], { quiet: true }).catch(() => undefined);
  const platforms = wantedPlatforms();
  console.log(`${svc}: buildah build for ${platforms.join(', ')} FROM ${base.image}`);
  // One build per platform, in a fixed order: the index lists them in that order (a multi-platform build
  // adds them in whichever order they finish, which changes the index digest from run to run).
  for (const platform of [...platforms].sort()) {
    await run(buildah[0], [
      ...buildah.slice(1), 'build',
      '--file', path.join(SHOP_DIR, 'Containerfile'),
      '--platform', platform,
      '--manifest', list,
      '--build-arg', `BASE_IMAGE=${base.image}`,
      '--build-arg', `SERVICE=${svc}`,
      '--build-arg', `PORT=${SHOP_SERVICES[svc]}`,
      '--build-arg', `REVISION=${SHOP_COMMIT}`,
      '--build-arg', `SOURCE=${SHOP_REPO}`,
      // Reproducible: fixed created time and file times, no buildah-version label.
      '--timestamp', '0',
      '--identity-label=false',
      `--tls-verify=${!isLoopback(base.registry)}`,
      '--quiet',
      ctx,
    ], { quiet: true });
  }
  const tBuilt = Date.now();
  const digestFile = path.join(work, svc, 'digest');
  console.log(`${svc}: push ${ref}`);
  await run(buildah[0], [
    ...buildah.slice(1), 'manifest', 'push', '--all', '--format', 'oci', '--quiet',
    '--digestfile', digestFile,
    `--tls-verify=${!isLoopback(pushTarget.registry)}`,
    list, `docker://${ref}`,
  ], { quiet: true });
  const pushed = readFileSync(digestFile, 'utf8').trim();
  const [update] = await lockRefs([ref]);
  console.log(describe(update));
  if (update.entry.digest !== pushed) {
    throw new Error(`${ref}: the registry serves ${update.entry.digest}, but buildah pushed ${pushed} (was the tag pushed again meanwhile?)`);
  }
  const tPushed = Date.now();
  const phases = `sources + npm ci ${seconds(tPrepared - t0)}, buildah build ${seconds(tBuilt - tPrepared)}, push + lock ${seconds(tPushed - tBuilt)}`;
  return { svc, ref, digest: pushed, ms: tPushed - t0, phases };
}

// Compressed size per platform (what a node downloads), and the app layer alone.
async function sizes(ref: string): Promise<string[]> {
  const registry = parseRef(ref).registry;
  const index = JSON.parse((await crane(['manifest', ref], registry)).toString());
  const repo = ref.slice(0, ref.lastIndexOf(':'));
  const lines: string[] = [];
  for (const m of index.manifests ?? []) {
    const man = JSON.parse((await crane(['manifest', `${repo}@${m.digest}`], registry)).toString());
    const layers = man.layers as { size: number }[];
    const total = layers.reduce((a, l) => a + l.size, 0) + man.config.size;
    lines.push(`${m.platform.os}/${m.platform.architecture}: ${size(total)} compressed, app layer ${size(layers[layers.length - 1].size)}`);
  }
  return lines.sort();
}

async function main(argv: string[]): Promise<void> {
  const t0 = Date.now();
  const all = Object.keys(SHOP_SERVICES);
  if (argv.length === 0 || argv.some((a) => a !== 'all' && !all.includes(a))) {
    console.error(`usage: npm run images:build -- <${all.join('|')}|all>...`);
    process.exit(2);
  }
  const services = argv.includes('all') ? all : [...new Set(argv)];
  if (!process.env.IMAGES_REGISTRY) throw new Error('set IMAGES_REGISTRY to the repository prefix to push to, e.g. ghcr.io/<owner>/shop');
  const buildahBin = env('BUILDAH', 'buildah');
  if (!existsSync(buildahBin) && !which(buildahBin)) {
    throw new Error(`${buildahBin} not found: install it with images/install-buildah.sh`);
  }
  const base = pinnedBase(env('SHOP_BASE_IMAGE', DEFAULT_BASE_IMAGE));
  const sumsFile = env('SHOP_SOURCES_SHA256', path.join(SHOP_DIR, 'sources.sha256'));
  const sums = readSha256Sums(sumsFile);

  const work = mkdtempSync(path.join(os.tmpdir(), 'k8s-infra-images-'));
  // vfs: plain directories, works anywhere (no overlay mounts, no fuse). A scratch store by default, so a build
  // never reuses a stale base or list from an earlier run.
  const storage = process.env.BUILDAH_STORAGE ? path.resolve(process.env.BUILDAH_STORAGE) : path.join(work, 'storage');
  const buildah = [buildahBin, '--storage-driver', 'vfs', '--root', path.join(storage, 'root'), '--runroot', path.join(storage, 'run')];
  const results: BuildResult[] = [];
  try {
    for (const svc of services) results.push(await buildOne(svc, work, buildah, base, sums));
  } finally {
    if (!process.env.KEEP_BUILD_DIR) rmSync(work, { recursive: true, force: true });
  }
  for (const r of results) {
    console.log(`${r.ref}@${r.digest}: built and pushed in ${seconds(r.ms)}`);
    console.log(`  ${r.phases}`);
    for (const line of await sizes(r.ref)) console.log(`  ${line}`);
  }
  console.log(`images:build: ${results.length} image(s) in ${seconds(Date.now() - t0)}; lock: ${shortPath(lockPath())}`);
}

// Exported for tests and tools that only need the checks.
export { prepareContext, pinnedBase };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`images:build: ${e.message}`);
    process.exit(1);
  });
}
