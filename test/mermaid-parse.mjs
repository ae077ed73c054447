// Parses Mermaid diagrams with Mermaid's own parser (the one GitHub's renderer runs) and prints what it read.
// stdin: a JSON array of diagram texts. stdout: a JSON array, per diagram either { error } or
// { type, vertices: [{ id, text }], edges: [{ start, end, text, stroke }], subgraphs: [{ id, title, nodes }] }.
// A separate process because mermaid is ESM-only and jest runs test files as CommonJS. Mermaid's sanitizer
// (DOMPurify) needs a DOM, which jsdom provides; nothing is rendered.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

const texts = JSON.parse(readFileSync(0, 'utf-8'));
const results = [];
for (const text of texts) {
  try {
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const db = diagram.db;
    results.push({
      type: diagram.type,
      vertices: [...db.getVertices().values()].map((v) => ({ id: v.id, text: v.text })),
      edges: db.getEdges().map((e) => ({ start: e.start, end: e.end, text: e.text, stroke: e.stroke })),
      subgraphs: db.getSubGraphs().map((s) => ({ id: s.id, title: s.title, nodes: s.nodes })),
    });
  } catch (e) {
    results.push({ error: String(e && e.message ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(results));
