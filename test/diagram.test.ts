import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { DOCS_DIR, GENERATED_NOTE, INTERNET, everyPodNodeId, namespaceNodeId, nodeId, peerNodeId } from '../synth/diagram';

// The committed picture of each environment (docs/environments/<env>.md, drawn from the constructs) checked against
// the committed YAML (dist/<env>/, parsed here) and read with Mermaid's own parser: every Service, Ingress host and
// NetworkPolicy rule is in the picture, and every traffic edge it draws is one the NetworkPolicies allow. A document
// has an overview (one node per namespace) and then one diagram per namespace; the namespaces' diagrams are read as
// one picture, with an edge of "every pod in <ns>" standing for one edge per workload of <ns>.
// (docs-drift.test.ts checks that the committed docs are what synth generates.)

const root = path.join(__dirname, '..');
const ENVIRONMENTS = fs.readdirSync(path.join(root, 'dist'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

type Labels = Record<string, string>;
interface K8sObject { kind: string; metadata: { name: string; namespace?: string; labels?: Labels }; spec?: any }
interface Parsed {
  error?: string;
  type: string;
  vertices: { id: string; text: string }[];
  edges: { start: string; end: string; text: string; stroke: 'normal' | 'thick' | 'dotted' | 'invisible' }[];
  subgraphs: { id: string; title: string; nodes: string[] }[];
}
interface Workload { id: string; namespace: string; labels: Labels }
interface Port { protocol: string; port: number }

function mermaidBlocks(markdown: string): string[] {
  const parts = markdown.split('\n```mermaid\n').slice(1);
  expect(parts.length).toBeGreaterThan(1);
  return parts.map((p) => p.split('\n```\n')[0]);
}

/** Runs Mermaid's parser (test/mermaid-parse.mjs, mermaid + jsdom) over the texts, in one process. */
function parseMermaid(texts: string[]): Parsed[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'mermaid-parse.mjs')], { cwd: root, input: JSON.stringify(texts), maxBuffer: 64 << 20 });
  return JSON.parse(out.toString('utf-8'));
}

function readObjects(env: string): K8sObject[] {
  const dir = path.join(root, 'dist', env);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.k8s.yaml')).sort()
    .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf-8')).map((d) => d.toJS() as K8sObject))
    .filter((o) => o && o.kind);
}

const matches = (selector: Labels | undefined, labels: Labels) => Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
const ns = (o: K8sObject) => o.metadata.namespace ?? 'default';

/** `TCP 3002, UDP 53` -> ports. */
function edgePorts(text: string): Port[] {
  return text.split(', ').map((p) => {
    const [protocol, port] = p.split(' ');
    return { protocol, port: Number(port) };
  });
}

function workloadsOf(objects: K8sObject[]): Workload[] {
  return objects.flatMap((o): Workload[] => {
    if (o.kind === 'Pod') return [{ id: nodeId('pod', ns(o), o.metadata.name), namespace: ns(o), labels: o.metadata.labels ?? {} }];
    if (['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) {
      return [{ id: nodeId(o.kind === 'Deployment' ? 'deploy' : 'other', ns(o), o.metadata.name), namespace: ns(o), labels: o.spec.template.metadata.labels ?? {} }];
    }
    return [];
  });
}

/** The diagram nodes a NetworkPolicy peer stands for: our workloads it selects, or the node of an outside peer. */
function peerIds(peer: any, policyNamespace: string, workloads: Workload[]): string[] {
  if (peer.ipBlock) {
    expect(peer.ipBlock.cidr).toBe('0.0.0.0/0');
    return [INTERNET];
  }
  const namespace = peer.namespaceSelector ? peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] : policyNamespace;
  expect(typeof namespace).toBe('string'); // the only namespace selector the model writes
  const podLabels: Labels = peer.podSelector?.matchLabels ?? {};
  const ours = workloads.filter((w) => w.namespace === namespace && matches(podLabels, w.labels)).map((w) => w.id);
  return ours.length > 0 ? ours : [peerNodeId(namespace, podLabels)];
}

function coversPorts(rulePorts: any[] | undefined, p: Port): boolean {
  return !rulePorts || rulePorts.some((r) => (r.protocol ?? 'TCP') === p.protocol && r.port === p.port);
}

/** An environment's diagrams as Mermaid read them: the overview, then one per namespace. */
let parsed: Map<string, Parsed[]>;
let brokenDiagram: Parsed;

beforeAll(() => {
  const texts = ENVIRONMENTS.map((env) => mermaidBlocks(fs.readFileSync(path.join(root, DOCS_DIR, `${env}.md`), 'utf-8')));
  const results = parseMermaid([...texts.flat(), 'flowchart LR\n  a["x"] --> b[["y"]\n']);
  let i = 0;
  parsed = new Map(ENVIRONMENTS.map((env, e) => [env, texts[e].map(() => results[i++])]));
  brokenDiagram = results[results.length - 1];
}, 60_000);

/**
 * The namespaces' diagrams read as one: a node's text from the diagram whose namespace box holds it (elsewhere it is
 * drawn as a peer, by name), the edges of all, with "every pod in <ns>" as one edge per workload of <ns>.
 */
function combine(diagrams: Parsed[], workloads: Workload[]): Parsed {
  const boxed = new Set(diagrams.flatMap((d) => d.subgraphs.flatMap((s) => s.nodes)));
  const everyPod = new Map([...new Set(workloads.map((w) => w.namespace))].map((n) => [everyPodNodeId(n), workloads.filter((w) => w.namespace === n).map((w) => w.id)]));
  const ends = (id: string) => everyPod.get(id) ?? [id];
  const edges = diagrams.flatMap((d) => d.edges).flatMap((e) => ends(e.start).flatMap((start) => ends(e.end).map((end) => ({ ...e, start, end }))));
  const vertices = diagrams.flatMap((d) => d.vertices);
  return {
    type: diagrams[0].type,
    vertices: [...vertices.filter((v) => boxed.has(v.id)), ...vertices.filter((v) => !boxed.has(v.id))],
    edges,
    subgraphs: diagrams.flatMap((d) => d.subgraphs),
  };
}

test('the Mermaid parser rejects a broken diagram (so its yes means something)', () => {
  expect(brokenDiagram.error).toMatch(/Parse error/);
});

test('there is a picture of each environment in dist/', () => {
  expect(ENVIRONMENTS).toEqual(expect.arrayContaining(['local', 'production']));
  for (const env of ENVIRONMENTS) {
    const md = fs.readFileSync(path.join(root, DOCS_DIR, `${env}.md`), 'utf-8');
    expect(md.split('\n')[0]).toBe(GENERATED_NOTE);
  }
});

describe.each(ENVIRONMENTS)('docs/environments/%s.md', (env) => {
  const objects = readObjects(env);
  const workloads = workloadsOf(objects);
  const all = () => {
    const ds = parsed.get(env)!;
    for (const d of ds) expect(d.error).toBeUndefined();
    return ds;
  };
  const diagram = () => combine(all().slice(1), workloads);
  const overview = () => all()[0];
  const vertex = (id: string) => diagram().vertices.find((v) => v.id === id);
  const edges = (start: string, end: string, stroke: string) => diagram().edges.filter((e) => e.start === start && e.end === end && e.stroke === stroke);

  test('is flowcharts that Mermaid parses: an overview, then one per namespace with its workloads', () => {
    for (const d of all()) expect(d.type).toBe('flowchart-v2');
    expect(diagram().vertices.length).toBeGreaterThan(3);
    const namespaces = [...new Set(workloads.map((w) => w.namespace))].sort();
    const boxes = all().slice(1).map((d) => d.subgraphs.filter((s) => s.title.startsWith('namespace ')).map((s) => s.title.split(/[ :]/)[1]));
    expect(boxes.every((b) => b.length === 1)).toBe(true);
    expect(boxes.flat()).toEqual(expect.arrayContaining(namespaces));
    for (const w of workloads) expect([w.id, all().slice(1).find((d) => d.subgraphs[0].nodes.includes(w.id))?.subgraphs[0].title]).toEqual([w.id, expect.stringMatching(new RegExp(`^namespace ${w.namespace}:`))]);
  });

  test('the overview has a node per namespace with its workloads, and every edge that crosses a namespace', () => {
    const nsOf = new Map(workloads.map((w) => [w.id, namespaceNodeId(w.namespace)]));
    for (const [id, namespace] of [...new Set(workloads.map((w) => w.namespace))].map((n) => [namespaceNodeId(n), n])) {
      const text = overview().vertices.find((v) => v.id === id)?.text ?? '';
      expect([id, text]).toEqual([id, expect.stringContaining(`namespace ${namespace}`)]);
      for (const o of objects.filter((x) => ns(x) === namespace && ['Deployment', 'Pod', 'StatefulSet', 'DaemonSet'].includes(x.kind))) {
        expect([id, text]).toEqual([id, expect.stringContaining(`${o.kind} ${o.metadata.name}`)]);
      }
    }
    // An edge of a namespace's diagram whose ends are in different namespaces (a Service or Ingress is in its
    // workload's namespace) is in the overview, between the namespaces' nodes, with its ports; and nothing else is.
    const boxOf = new Map(all().slice(1).flatMap((d) => d.subgraphs[0].nodes.map((n) => [n, namespaceNodeId(d.subgraphs[0].title.split(/[ :]/)[1])])));
    const end = (id: string) => nsOf.get(id) ?? boxOf.get(id) ?? id;
    const crossing = diagram().edges.filter((e) => e.stroke !== 'dotted' && e.stroke !== 'invisible' && end(e.start) !== end(e.end));
    const key = (e: { start: string; end: string; stroke: string }) => `${e.start}|${e.end}|${e.stroke}`;
    const drawn = new Map(overview().edges.map((e) => [key(e), e.text.split(', ')]));
    for (const e of crossing) {
      const k = key({ ...e, start: end(e.start), end: end(e.end) });
      expect([k, drawn.get(k)]).toEqual([k, expect.arrayContaining(e.text.split(', '))]);
    }
    const summarized = new Set(crossing.map((e) => key({ ...e, start: end(e.start), end: end(e.end) })));
    for (const k of drawn.keys()) expect([k, summarized.has(k)]).toEqual([k, true]);
  });

  test('has a node for every workload, and every Service with its ports and an edge to each workload it selects', () => {
    for (const w of workloads) expect([w.id, vertex(w.id)?.id]).toEqual([w.id, w.id]);
    const services = objects.filter((o) => o.kind === 'Service');
    expect(services.length).toBeGreaterThan(0);
    for (const s of services) {
      const id = nodeId('svc', ns(s), s.metadata.name);
      expect([s.metadata.name, vertex(id)?.text]).toEqual([s.metadata.name, expect.stringContaining(s.spec.type ?? 'ClusterIP')]);
      for (const p of s.spec.ports) expect(vertex(id)!.text).toContain(String(p.port));
      for (const w of workloads.filter((x) => x.namespace === ns(s) && matches(s.spec.selector, x.labels))) {
        expect([id, w.id, edges(id, w.id, 'normal').length]).toEqual([id, w.id, 1]);
      }
    }
  });

  test('has every Ingress host, routed to its backend Service', () => {
    const ingresses = objects.filter((o) => o.kind === 'Ingress');
    expect(ingresses.length).toBeGreaterThan(0);
    for (const ing of ingresses) {
      const id = nodeId('ing', ns(ing), ing.metadata.name);
      for (const rule of ing.spec.rules) {
        expect([id, vertex(id)?.text]).toEqual([id, expect.stringContaining(rule.host)]);
        for (const p of rule.http.paths) {
          const svc = nodeId('svc', ns(ing), p.backend.service.name);
          expect([id, svc, edges(id, svc, 'normal').length]).toEqual([id, svc, 1]);
        }
      }
      if (ing.spec.tls) expect(vertex(id)!.text).toContain('TLS');
    }
  });

  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const selected = (p: K8sObject) => workloads.filter((w) => w.namespace === ns(p) && matches(p.spec.podSelector.matchLabels, w.labels));

  test('marks every default-deny namespace, and no other', () => {
    const denied = new Set(policies.filter((p) => Object.keys(p.spec.podSelector).length === 0).map(ns));
    for (const sg of diagram().subgraphs.filter((s) => s.title.startsWith('namespace '))) {
      const name = sg.title.split(/[ :]/)[1];
      expect([name, sg.title.includes('default deny') && !sg.title.includes('no default deny')]).toEqual([name, denied.has(name)]);
    }
    for (const n of denied) expect(diagram().subgraphs.some((s) => s.title.startsWith(`namespace ${n}:`))).toBe(true);
  });

  test('draws every NetworkPolicy rule as a thick edge with its ports', () => {
    for (const p of policies) {
      for (const w of selected(p)) {
        const rules = [
          ...(p.spec.ingress ?? []).flatMap((r: any) => r.from.flatMap((peer: any) => peerIds(peer, ns(p), workloads).map((src) => ({ src, dst: w.id, ports: r.ports })))),
          ...(p.spec.egress ?? []).flatMap((r: any) => r.to.flatMap((peer: any) => peerIds(peer, ns(p), workloads).map((dst) => ({ src: w.id, dst, ports: r.ports })))),
        ];
        for (const r of rules) {
          const drawn = edges(r.src, r.dst, 'thick').flatMap((e) => edgePorts(e.text));
          const want = (r.ports ?? []).map((x: any) => ({ protocol: x.protocol ?? 'TCP', port: x.port }));
          expect([p.metadata.name, r.src, r.dst, drawn]).toEqual([p.metadata.name, r.src, r.dst, expect.arrayContaining(want)]);
          expect(drawn.length).toBeGreaterThan(0);
        }
      }
    }
  });

  test('draws no thick edge that the NetworkPolicies do not allow', () => {
    const byId = new Map(workloads.map((w) => [w.id, w]));
    // An edge end a rule names: a peer of the rule stands for that node.
    const names = (p: K8sObject, peers: any[], id: string) => peers.some((peer) => peerIds(peer, ns(p), workloads).includes(id));
    const thick = diagram().edges.filter((e) => e.stroke === 'thick');
    if (policies.length === 0) expect(thick).toEqual([]);
    for (const e of thick) {
      for (const port of edgePorts(e.text)) {
        // Each end that is one of our workloads and is isolated in that direction must allow it; at least one
        // rule must name it explicitly.
        const out = byId.has(e.start) ? policies.filter((p) => selected(p).some((w) => w.id === e.start) && p.spec.policyTypes.includes('Egress')) : [];
        const inn = byId.has(e.end) ? policies.filter((p) => selected(p).some((w) => w.id === e.end) && p.spec.policyTypes.includes('Ingress')) : [];
        const egressOk = out.some((p) => (p.spec.egress ?? []).some((r: any) => names(p, r.to, e.end) && coversPorts(r.ports, port)));
        const ingressOk = inn.some((p) => (p.spec.ingress ?? []).some((r: any) => names(p, r.from, e.start) && coversPorts(r.ports, port)));
        const allowed = (out.length === 0 || egressOk) && (inn.length === 0 || ingressOk) && (egressOk || ingressOk);
        expect([e.start, e.end, port, allowed]).toEqual([e.start, e.end, port, true]);
      }
    }
  });
});
