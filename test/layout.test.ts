import * as fs from 'fs';
import * as path from 'path';

// The folder layout is the architecture (README "Layout"): model -> synth -> deploy -> images, one room per product.
// Imports run environments -> charts -> lib -> imports; constructs do not know how they are synthesized (synth/ may
// use lib/, never the other way round); the model (environments/app.ts) never loads the synth.
const root = path.join(__dirname, '..');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'node_modules' ? [] : tsFiles(path.join(dir, e.name))) : /\.(ts|js|mjs)$/.test(e.name) ? [path.join(dir, e.name)] : []);
}

/** Every relative import of a file, as a path from the project root. */
function relativeImports(file: string): string[] {
  const src = fs.readFileSync(path.join(root, file), 'utf-8');
  return [...src.matchAll(/(?:from|require\(|import\(|^import)\s*['"](\.{1,2}\/[^'"]+|\.)['"]/gm)]
    .map((m) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), m[1])));
}

/** The file an import names (`./x` is `x.ts`, `x.js` or `x/index.ts`). */
function resolveImport(p: string): string | undefined {
  for (const f of [p, `${p}.ts`, `${p}.js`, path.join(p, 'index.ts')]) {
    if (fs.existsSync(path.join(root, f)) && fs.statSync(path.join(root, f)).isFile()) return f;
  }
  return undefined;
}

/** Every project file `file` loads, directly or through others. */
function closure(file: string): Set<string> {
  const seen = new Set<string>();
  const todo = [file];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const i of relativeImports(f)) {
      const r = resolveImport(i);
      if (r) todo.push(r);
    }
  }
  return seen;
}

const topFolder = (p: string) => p.split(path.sep)[0];

/** The top level, and what each entry is. A new room is a decision: add it here and to the README's layout. */
const TOP_LEVEL: Record<string, string> = {
  // the design card
  'main.ts': 'the synth entry point',
  'charts': 'one chart per system',
  'imports': 'generated typed API classes',
  'dist': 'what the cluster gets (generated, committed)',
  'cdk8s.yaml': 'the cdk8s CLI config',
  '__snapshots__': 'jest snapshots',
  'package.json': '', 'package-lock.json': '', 'tsconfig.json': '', 'jest.config.js': '', '.swcrc': '',
  // the model
  'environments': 'typed config per environment, and the model (app.ts)',
  'lib': 'reusable constructs',
  'crds': 'CRDs the model uses',
  'nginx': 'the TLS proxy config the model mounts',
  'sealing': 'public sealing certificates',
  'secrets': 'sealed values',
  'images.lock.json': 'image digests the model pins',
  // the synth
  'synth': 'the synth pipeline and its launchers',
  'schemas': 'strict JSON schemas and their compiled validators',
  'docs': 'generated pictures',
  // deploy, images
  'deploy': 'the deploy tool: deploy, bootstrap, seal, and which cluster each environment belongs to',
  'images': 'image definitions and their supply chain: Containerfile, lockfiles, lock and build',
  // around
  'test': 'the tests, with the harnesses they use (test/cluster/harness/)',
  'scripts': 'developer tooling only',
  'tools': 'Go modules pinning tools',
  'README.md': '', '.ci': '', '.github': '', '.gitignore': '', '.gitattributes': '', '.kube-linter.yaml': '',
};

describe('layout', () => {
  const allowed: Record<string, readonly string[]> = {
    lib: ['lib', 'imports'],
    charts: ['lib', 'imports', 'charts'],
    environments: ['environments', 'charts', 'lib'],
    synth: ['synth', 'lib', 'schemas'],
    deploy: ['deploy', 'environments', 'charts', 'lib'],
    images: ['images', 'lib'],
  };
  for (const [folder, may] of Object.entries(allowed)) {
    test(`${folder}/ imports only from ${may.join(', ')}`, () => {
      const wrong = tsFiles(folder).flatMap((f) => relativeImports(f).filter((i) => !may.includes(topFolder(i))).map((i) => `${f} -> ${i}`));
      expect(wrong).toEqual([]);
    });
  }

  test('the scan sees imports at all', () => {
    expect(tsFiles('lib').flatMap(relativeImports).length).toBeGreaterThan(20);
    expect(closure('environments/app.ts').size).toBeGreaterThan(30);
  });

  test('importing the model never loads the synth', () => {
    const loaded = [...closure('environments/app.ts')];
    expect(loaded.filter((f) => topFolder(f) === 'synth' || f === 'main.ts')).toEqual([]);
    // and the deploy tools reach the model, not main.ts
    for (const f of tsFiles('deploy')) expect([...closure(f)].filter((g) => topFolder(g) === 'synth' || g === 'main.ts')).toEqual([]);
  });

  test('the top level holds the design card and one room per product, nothing else', () => {
    const tracked = fs.readdirSync(root).filter((e) => !['node_modules', '.git', '.cache', '.cdk8s.out', '.cdk8s.check', 'dist-local', 'coverage'].includes(e));
    expect(tracked.filter((e) => !(e in TOP_LEVEL))).toEqual([]);
    for (const card of ['package.json', 'tsconfig.json', 'main.ts', 'charts', 'imports', 'dist', 'cdk8s.yaml', '__snapshots__']) {
      expect(fs.existsSync(path.join(root, card))).toBe(true);
    }
  });

  test('scripts/ is developer tooling only: no deploy tool, image tooling or cluster harness', () => {
    const files = fs.readdirSync(path.join(root, 'scripts'), { recursive: true }).map(String);
    expect(files.filter((f) => /deploy|bootstrap|seal|image|cluster|buildah|synth\.js|run-app/.test(f))).toEqual([]);
    // the products' parts are in their rooms
    for (const f of ['deploy/deploy.ts', 'deploy/bootstrap.ts', 'deploy/seal.ts', 'deploy/targets.json', 'images/build.ts', 'images/lock.ts',
      'images/shop/Containerfile', 'test/cluster/harness/up.sh', 'synth/synth.js', 'synth/run-app.js', 'environments/app.ts']) {
      expect(fs.existsSync(path.join(root, f))).toBe(true);
    }
  });

  test('every file of lib/ lives in a concern folder that has an index.ts with a header', () => {
    const files = tsFiles('lib');
    expect(files.filter((f) => path.dirname(f) === 'lib')).toEqual([]);
    for (const dir of new Set(files.map((f) => path.dirname(f)))) {
      const index = fs.readFileSync(path.join(root, dir, 'index.ts'), 'utf-8');
      expect(index.split('\n').filter((l) => l.startsWith('//')).length).toBeGreaterThanOrEqual(2);
    }
  });
});
