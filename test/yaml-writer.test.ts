import * as fs from 'fs';
import * as path from 'path';
import { Yaml } from 'cdk8s';
import { readManifests, stringifyManifest } from '../synth/synth-output';

// synth writes YAML with its own writer (synth/synth-output.ts stringifyManifest), which must give exactly what
// cdk8s's writer (the `yaml` library) gives: dist/ must not change by a byte.
const root = path.join(__dirname, '..');
const same = (docs: unknown[]) => expect(stringifyManifest(docs)).toBe(Yaml.stringify(...docs));

test('every committed manifest, object by object and file by file', () => {
  for (const env of fs.readdirSync(path.join(root, 'dist'))) {
    const byFile = new Map<string, unknown[]>();
    for (const { file, object } of readManifests(path.join(root, 'dist', env))) byFile.set(file, [...(byFile.get(file) ?? []), object]);
    for (const [file, objects] of byFile) {
      same(objects);
      expect(stringifyManifest(objects)).toBe(fs.readFileSync(file, 'utf-8'));
    }
  }
});

// Strings the YAML 1.1 schema would read as something else, indicators, quotes, whitespace, control characters.
const AWKWARD = [
  '', ' ', 'a', 'yes', 'Yes', 'YES', 'no', 'on', 'Off', 'y', 'N', 'true', 'False', 'null', 'Null', '~', '<<', '=',
  '0', '80', '-1', '+1', '0777', '0o17', '0x1F', '0b101', '1_000', '1.5', '.5', '1e3', '1E-3', '.inf', '-.Inf', '.nan',
  '1:30', '190:20:30', '1:30.5', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5',
  '-', '?', '- a', '? a', '-a', '?a', ':', 'a:', 'a: b', 'a:b', 'http://x', '#', 'a #b', 'a#b', 'a # b', '&a', '*a', '!a',
  '|', '>', "'", '"', "it's", 'say "hi"', `'"`, '%x', '@x', '`x', ',', '[a]', '{a}', 'a,b', 'a[0]', 'a{b}',
  ' lead', 'trail ', 'tab\tin', '\ttab', 'tab\t', 'bell\x07', 'del\x7f', 'nel\x85', 'é', '日本', '😀', '\ud800',
  '---', '--- a', '...', 'a---', '-- a', 'a\nb', 'a\n', '\n', 'a\r\nb', 'x'.repeat(2000), 'key=value', '$(VAR)', '*.example.com',
  'a  b', '0.0.0.0/0', '10.0.0.0/8', '::1', 'fe80::/10', 'sha256:abc', 'image@sha256:ab', 'v1', '1.27', '1.0.0', '0x', '0b', '08', '09',
];

test('awkward strings as values, keys, list items, and documents', () => {
  for (const s of AWKWARD) {
    same([{ v: s }]);
    same([{ [s]: 1 }]);
    same([{ a: [s, [s], { [s]: [s] }] }]);
    same([s]);
  }
});

test('shapes: nesting, empty collections, numbers, null, shared and odd objects', () => {
  const shared = { k: 1 };
  same([{ a: [[1, [2, []]], [], {}, { x: [{}], y: { z: [] } }], b: {}, c: null, d: true, e: false, f: -3 }]);
  same([{}, [], [1, 'a'], undefined, { n: 1.5, m: -0, l: 2 ** 60, nan: NaN, inf: -Infinity }]);
  same([{ a: shared, b: shared }, { u: undefined, arr: [undefined], d: new Date(0) }]);
  same([{ 2: 'a', 1: 'b', x: 'c' }]);
  same([]);
  same([undefined]);
});

test('a generated app of 50 services (what the bench writes at scale)', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildBenchApp } = require('../scripts/bench-app') as typeof import('../scripts/bench-app');
  const app = buildBenchApp(50, path.join(root, '.cache', 'unused'));
  for (const chart of app.charts) same(chart.toJson());
});
