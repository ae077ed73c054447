import * as fs from 'fs';
import * as path from 'path';

/**
 * The folder holding cdk8s.yaml, found upward from this module, so repository files (nginx/proxy.conf, sealed
 * secrets) resolve the same whether the code runs from source (tests, ts-node) or bundled (synth/run-app.js).
 */
export function projectRoot(from: string = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'cdk8s.yaml'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no cdk8s.yaml found above ${from}`);
  }
}
