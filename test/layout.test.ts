import * as fs from 'fs';
import * as path from 'path';

// The folder layout is the architecture (README "Layout"): imports run environments -> charts -> lib -> imports,
// and constructs do not know how they are synthesized (synth/ may use lib/, never the other way round).
const root = path.join(__dirname, '..');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

/** Every relative import of a file, as a path from the project root. */
function relativeImports(file: string): string[] {
  const src = fs.readFileSync(path.join(root, file), 'utf-8');
  return [...src.matchAll(/(?:from|require\(|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), m[1])));
}

const topFolder = (p: string) => p.split(path.sep)[0];

describe('layout', () => {
  const allowed: Record<string, readonly string[]> = {
    lib: ['lib', 'imports'],
    charts: ['lib', 'imports', 'charts'],
    environments: ['environments', 'charts', 'lib'],
    synth: ['synth', 'lib'],
  };
  for (const [folder, may] of Object.entries(allowed)) {
    test(`${folder}/ imports only from ${may.join(', ')}`, () => {
      const wrong = tsFiles(folder).flatMap((f) => relativeImports(f).filter((i) => !may.includes(topFolder(i))).map((i) => `${f} -> ${i}`));
      expect(wrong).toEqual([]);
    });
  }

  test('the scan sees imports at all', () => {
    expect(tsFiles('lib').flatMap(relativeImports).length).toBeGreaterThan(20);
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
