import * as fs from 'fs';
import * as path from 'path';
import { DOCS_DIR } from '../../synth/diagram';
import { CHROMIUM, Rendered, renderDiagrams } from './render';

// npm run test:pictures (not in npm test: it needs Debian's chromium, which test/pictures/install-chromium.sh
// installs; CI runs it). Every diagram of docs/environments/<env>.md, rendered by the project's mermaid in a real
// browser, must be readable in GitHub's ~900 px column, which scales a wider diagram down to fit: its natural
// width at most MAX_WIDTH px, so its 16 px labels are still >= 10 px there. A screenshot of each, as that column
// shows it, is kept in .cache/pictures/<env>-<diagram>.png (git-ignored).

const root = path.join(__dirname, '..', '..');
const OUT = path.join(root, '.cache', 'pictures');
const MAX_WIDTH = 1400;
const COLUMN = 900;

/** `## <heading>` then a mermaid block: each diagram of a document, named by its heading. */
function diagramsOf(env: string): { name: string; text: string }[] {
  const md = fs.readFileSync(path.join(root, DOCS_DIR, `${env}.md`), 'utf-8');
  return [...md.matchAll(/^## (.+)\n\n```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => ({
    name: `${env}-${m[1].toLowerCase().replace(/^namespace /, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`,
    text: `${m[2]}\n`,
  }));
}

const ENVIRONMENTS = fs.readdirSync(path.join(root, DOCS_DIR)).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3)).sort();
/** Twelve nodes in a row: far wider than a column, so the width check is seen to fail. */
const TOO_WIDE = { name: 'control-too-wide', text: `flowchart LR\n  ${Array.from({ length: 12 }, (_, i) => `n${i}["node number ${i}"]`).join(' --> ')}\n` };

let rendered: Map<string, Rendered>;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no ${CHROMIUM}: run test/pictures/install-chromium.sh (Debian's chromium)`);
  fs.rmSync(OUT, { recursive: true, force: true });
  const all = [...ENVIRONMENTS.flatMap(diagramsOf), TOO_WIDE];
  rendered = new Map((await renderDiagrams(all, OUT, COLUMN)).map((r) => [r.name, r]));
  console.log([
    `each diagram in chromium (${CHROMIUM}), screenshots at a ${COLUMN} px column in ${path.relative(root, OUT)}/:`,
    ...[...rendered.values()].map((r) => `  ${r.name}: ${r.width} x ${r.height} px, labels ${r.smallestTextAtColumn.toFixed(1)} px tall at ${COLUMN} px`),
  ].join('\n'));
}, 180_000);

test('the width check fails on a diagram too wide for the column (so its yes means something)', () => {
  expect(rendered.get(TOO_WIDE.name)!.width).toBeGreaterThan(MAX_WIDTH);
  expect(rendered.get(TOO_WIDE.name)!.smallestTextAtColumn).toBeLessThan(10);
});

describe.each(ENVIRONMENTS)('docs/environments/%s.md', (env) => {
  const diagrams = diagramsOf(env);

  test('has an overview and one diagram per namespace', () => {
    expect(diagrams.length).toBeGreaterThan(1);
    expect(diagrams[0].name).toBe(`${env}-overview`);
  });

  test.each(diagrams.map((d) => d.name))(`%s renders, at most ${MAX_WIDTH} px wide, with a screenshot`, (name) => {
    const r = rendered.get(name)!;
    expect(r.error).toBeUndefined();
    expect([name, r.width]).toEqual([name, expect.any(Number)]);
    expect(r.width).toBeGreaterThan(100);
    expect(r.width).toBeLessThanOrEqual(MAX_WIDTH);
    expect(r.smallestTextAtColumn).toBeGreaterThanOrEqual(10);
    expect(fs.statSync(r.screenshot).size).toBeGreaterThan(1000);
  });
});
