import { AppContainerSpec } from './pod-template';
import { IMAGE_ROOT, RESTRICTED } from './security';

/**
 * The upstream shop images contain no code: each container downloads its `app.js` and `package.json` from
 * GitHub and runs `npm install` when it starts (seeds.md, shop). The code reaches the pod in one of these ways.
 */
export type NodeAppSource = DownloadAtStart | PrebuiltImage;

/** The upstream way, for local clusters: a stock node image fetches the code at a pinned commit on start. */
export interface DownloadAtStart {
  readonly kind: 'download-at-start';
  /** The stock image that runs the script, e.g. `node:6-alpine` as upstream. */
  readonly baseImage: string;
  /** `owner/name` on GitHub. */
  readonly repository: string;
  /** Full 40-hex commit SHA: a branch would change under us. */
  readonly commit: string;
}

/** An image per service with the code and node_modules baked in; runs as non-root with a read-only root. */
export interface PrebuiltImage {
  readonly kind: 'prebuilt-image';
  /** `registry/path` the per-service images live under: the image is `<repository>/<service-dir>:<tag>`. */
  readonly repository: string;
  /** Tag (or `@sha256:` digest) shared by the service images. */
  readonly tag: string;
  /** The folder the code was copied to in the image. */
  readonly workingDir: string;
}

/** The container fields that run `node app.js <args...>` from `dir` of the source. */
export function nodeAppContainer(source: NodeAppSource, dir: string, args: readonly string[]):
Pick<AppContainerSpec, 'image' | 'command' | 'args' | 'workingDir' | 'security' | 'writablePaths'> & { version: string } {
  switch (source.kind) {
    case 'download-at-start': {
      const raw = `https://raw.githubusercontent.com/${source.repository}/${source.commit}/${dir}`;
      // Upstream runs `apk add ca-certificates && update-ca-certificates` and then `wget --no-check-certificate`,
      // which throws the certificates away again; we keep TLS verification on. `set -e` stops a failed download
      // from starting a broken app, and `exec` makes node PID 1 so it receives SIGTERM.
      const script = [
        'set -e',
        'cd /home/node',
        'apk update && apk add ca-certificates && update-ca-certificates && apk add wget',
        `wget -q -O app.js ${raw}/app.js`,
        `wget -q -O package.json ${raw}/package.json`,
        'npm install',
        'exec node app.js "$@"',
      ].join('; ');
      return {
        image: source.baseImage,
        version: source.commit.slice(0, 12), // the code that runs is the commit's, not the base image's
        command: ['/bin/sh'],
        // Peer addresses are positional parameters ($1, $2, ...), so they stay separate, checkable strings.
        args: ['-c', script, dir, ...args],
        // apk and npm write to the image as root: this source cannot run under "restricted".
        security: IMAGE_ROOT,
      };
    }
    case 'prebuilt-image':
      return {
        image: `${source.repository}/${dir}${source.tag.startsWith('@') ? '' : ':'}${source.tag}`,
        version: source.tag.replace(/^@sha256:/, '').slice(0, 12),
        command: ['node', 'app.js'],
        args: [...args],
        workingDir: source.workingDir,
        security: RESTRICTED,
        writablePaths: ['/tmp'],
      };
  }
}
