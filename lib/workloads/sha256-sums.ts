import * as fs from 'fs';

/**
 * Reads a `sha256sum` file (`<hex>  <dir>/<file>` per line, so `sha256sum -c` checks it too) into the map
 * `FetchAtInit.sha256` takes. The shop's upstream hashes live in one such file (images/shop/sources.sha256), read
 * by synth (production's fetch-at-init) and by the image build (images/build.ts) alike. Its own file: the
 * build imports it without the constructs.
 */
export function readSha256Sums(file: string): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [i, line] of fs.readFileSync(file, 'utf-8').split('\n').entries()) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = /^([a-f0-9]{64}) [ *](\S+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected "<64 hex>  <path>", got ${JSON.stringify(line)}`);
    out[m[2]] = m[1];
  }
  return out;
}
