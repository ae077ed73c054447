/**
 * Renders Mermaid diagrams the way GitHub shows them: the project's own mermaid (node_modules/mermaid, its dist
 * bundle loaded into a local page) in Debian's chromium, headless, driven by playwright-core. No network: every
 * request the page makes is aborted, and playwright-core never downloads a browser (executablePath is given).
 * Used by test/pictures/pictures.test.ts (npm run test:pictures).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MERMAID_BUNDLE = path.join(__dirname, '..', '..', 'node_modules', 'mermaid', 'dist', 'mermaid.min.js');

export interface Rendered {
  readonly name: string;
  /** The SVG's natural size (its viewBox; mermaid's `max-width`), in CSS px. */
  readonly width: number;
  readonly height: number;
  /** The smallest label text height, in CSS px, once the SVG is scaled to `column` px wide (GitHub's column). */
  readonly smallestTextAtColumn: number;
  /** Where the screenshot at `column` px went. */
  readonly screenshot: string;
  readonly error?: string;
}

/**
 * Renders each diagram; writes `<outDir>/<name>.png`, the diagram as GitHub's column of `column` px shows it
 * (scaled down to the column when wider, never up).
 */
export async function renderDiagrams(diagrams: readonly { name: string; text: string }[], outDir: string, column = 900): Promise<Rendered[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pictures-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false, // CI runs as root
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: column + 40, height: 800 },
    deviceScaleFactor: 1,
    offline: true,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.route('**/*', (route) => route.abort());
    await page.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:20px;background:#fff"><div id="out"></div></body></html>');
    await page.addScriptTag({ content: fs.readFileSync(MERMAID_BUNDLE, 'utf-8') });
    await page.evaluate(() => (globalThis as any).mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' }));
    const out: Rendered[] = [];
    for (const [i, d] of diagrams.entries()) {
      const m = await page.evaluate(async ({ text, id, column }) => {
        const doc = (globalThis as any).document;
        const host = doc.getElementById('out');
        host.innerHTML = '';
        host.style.width = `${column}px`;
        try {
          const { svg } = await (globalThis as any).mermaid.render(id, text);
          host.innerHTML = svg;
        } catch (e: any) {
          return { error: String(e?.message ?? e), width: 0, height: 0, smallest: 0 };
        }
        const el = host.querySelector('svg');
        const vb = el.viewBox.baseVal;
        // GitHub: the SVG keeps mermaid's max-width (its natural width) and is otherwise as wide as the column.
        el.style.width = '100%';
        const scale = el.getBoundingClientRect().width / vb.width;
        const fontPx = [...host.querySelectorAll('.nodeLabel, .edgeLabel')]
          .map((n: any) => parseFloat((globalThis as any).getComputedStyle(n).fontSize))
          .filter((x: number) => x > 0);
        return { width: vb.width, height: vb.height, smallest: Math.min(...fontPx) * scale };
      }, { text: d.text, id: `d${i}`, column });
      const screenshot = path.join(outDir, `${d.name}.png`);
      if (!m.error) await page.locator('#out svg').screenshot({ path: screenshot });
      out.push({ name: d.name, width: Math.round(m.width), height: Math.round(m.height), smallestTextAtColumn: m.smallest, screenshot, error: m.error });
    }
    return out;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
