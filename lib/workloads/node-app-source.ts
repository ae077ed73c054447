import { Construct } from 'constructs';
import * as kplus from '../core/kplus';
import { AppContainerSpec } from './pod-template';
import { Resources } from './quantity';
import { IMAGE_ROOT, RESTRICTED } from './security';

/**
 * The upstream shop images contain no code: each container downloads its `app.js` and `package.json` from
 * GitHub and runs `npm install` when it starts (seeds.md, shop). The code reaches the pod in one of these ways.
 */
export type NodeAppSource = DownloadAtStart | FetchAtInit | PrebuiltImage;

/** The upstream way, for local clusters: a stock node image fetches the code at a pinned commit on start, as root. */
export interface DownloadAtStart {
  readonly kind: 'download-at-start';
  /** The stock image that runs the script, e.g. `node:6-alpine` as upstream. */
  readonly baseImage: string;
  /** `owner/name` on GitHub. */
  readonly repository: string;
  /** Full 40-hex commit SHA: a branch would change under us. */
  readonly commit: string;
}

/**
 * For clusters that enforce "restricted": an init container (non-root, read-only root) fetches the pinned files
 * with node's own https client into an emptyDir, checks their sha256 when given, and runs `npm install` there;
 * the app container runs `node app.js` from that folder, read-only.
 */
export interface FetchAtInit {
  readonly kind: 'fetch-at-init';
  /** A node image, used by both containers (upstream: `node:6-alpine`). */
  readonly image: string;
  readonly repository: string;
  /** Full 40-hex commit SHA. */
  readonly commit: string;
  /**
   * Expected sha256 of each fetched file, by `<dir>/<file>`; a mismatch fails the init container.
   * @default no content check beyond the commit pin
   */
  readonly sha256?: Readonly<Record<string, string>>;
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

/** What a source contributes to the pod: the app container's fields, and init containers if any. */
export interface NodeAppPod {
  readonly container: Pick<AppContainerSpec, 'image' | 'command' | 'args' | 'workingDir' | 'security' | 'writablePaths' | 'mounts'>;
  readonly initContainers: readonly AppContainerSpec[];
  /** `app.kubernetes.io/version`: the code's version, not the base image's. */
  readonly version: string;
  /** Whether the pod needs HTTPS egress to the internet (GitHub and the npm registry) to start. */
  readonly needsInternet: boolean;
}

const FETCH_FILES = ['app.js', 'package.json'];
const INIT_RESOURCES: Resources = {
  cpu: { request: '25m', limit: '500m' },
  memory: { request: '96Mi', limit: '384Mi' },
  ephemeralStorage: { request: '64Mi', limit: '512Mi' },
};

/** How to run `node app.js <args...>` from `dir` of the source. */
export function nodeAppPod(scope: Construct, source: NodeAppSource, dir: string, args: readonly string[]): NodeAppPod {
  switch (source.kind) {
    case 'download-at-start': {
      const raw = rawUrl(source.repository, source.commit, dir);
      // Upstream runs `apk add ca-certificates && update-ca-certificates` and then `wget --no-check-certificate`,
      // which throws the certificates away again; we keep TLS verification on. `set -e` stops a failed download
      // from starting a broken app, and `exec` replaces the shell with node, so SIGTERM reaches node (which has no
      // handler: the pod must not make it PID 1, see AppPodSpec.shareProcessNamespace).
      const script = [
        'set -e',
        'cd /home/node',
        'apk update && apk add ca-certificates && update-ca-certificates && apk add wget',
        ...FETCH_FILES.map((f) => `wget -q -O ${f} ${raw}/${f}`),
        'npm install',
        'exec node app.js "$@"',
      ].join('; ');
      return {
        container: {
          image: source.baseImage,
          command: ['/bin/sh'],
          // Peer addresses are positional parameters ($1, $2, ...), so they stay separate, checkable strings.
          args: ['-c', script, dir, ...args],
          // apk and npm write to the image as root: this source cannot run under "restricted".
          security: IMAGE_ROOT,
        },
        initContainers: [],
        version: source.commit.slice(0, 12),
        needsInternet: true,
      };
    }
    case 'fetch-at-init': {
      const code = kplus.Volume.fromEmptyDir(scope, `${dir}-code-volume`, 'code');
      const expected = FETCH_FILES.map((f) => `${f}=${source.sha256?.[`${dir}/${f}`] ?? ''}`).join(' ');
      return {
        container: {
          image: source.image,
          command: ['node', 'app.js'],
          args: [...args],
          workingDir: '/app',
          security: RESTRICTED,
          writablePaths: ['/tmp'],
          mounts: [{ volume: code, path: '/app', readOnly: true }],
        },
        initContainers: [{
          name: 'fetch-code',
          image: source.image,
          command: ['/bin/sh', '-c', `set -e; node -e "$FETCH_SCRIPT"; cd /app; npm install --production --no-optional`],
          env: [
            { name: 'CODE_URL', value: rawUrl(source.repository, source.commit, dir) },
            { name: 'CODE_FILES', value: expected },
            { name: 'FETCH_SCRIPT', value: FETCH_SCRIPT },
            // npm writes its cache and logs under HOME: keep them on the writable /tmp.
            { name: 'HOME', value: '/tmp' },
          ],
          resources: INIT_RESOURCES,
          security: RESTRICTED,
          writablePaths: ['/tmp'],
          mounts: [{ volume: code, path: '/app', readOnly: false }],
        }],
        version: source.commit.slice(0, 12),
        needsInternet: true,
      };
    }
    case 'prebuilt-image':
      return {
        container: {
          image: `${source.repository}/${dir}${source.tag.startsWith('@') ? '' : ':'}${source.tag}`,
          command: ['node', 'app.js'],
          args: [...args],
          workingDir: source.workingDir,
          security: RESTRICTED,
          writablePaths: ['/tmp'],
        },
        initContainers: [],
        version: source.tag.replace(/^@sha256:/, '').slice(0, 12),
        needsInternet: false,
      };
  }
}

function rawUrl(repository: string, commit: string, dir: string): string {
  return `https://raw.githubusercontent.com/${repository}/${commit}/${dir}`;
}

/**
 * Downloads CODE_URL/<file> for each `file=sha256` of CODE_FILES into /app, failing on any HTTP error or hash
 * mismatch (an empty hash skips the check). Plain ES5 + node 6 APIs, so it runs in the upstream node:6 image.
 */
const FETCH_SCRIPT = [
  "var https=require('https'),fs=require('fs'),crypto=require('crypto');",
  "var files=process.env.CODE_FILES.split(' ');",
  'function next(i){if(i>=files.length)return;var f=files[i].split(\'=\'),name=f[0],want=f[1];',
  "https.get(process.env.CODE_URL+'/'+name,function(r){if(r.statusCode!==200){console.error(name+': HTTP '+r.statusCode);process.exit(1)}",
  "var chunks=[];r.on('data',function(c){chunks.push(c)});r.on('end',function(){var b=Buffer.concat(chunks);",
  "var got=crypto.createHash('sha256').update(b).digest('hex');console.log(name+' sha256 '+got);",
  "if(want&&got!==want){console.error(name+': sha256 '+got+' is not the pinned '+want);process.exit(1)}",
  "fs.writeFileSync('/app/'+name,b);next(i+1)})}).on('error',function(e){console.error(name+': '+e.message);process.exit(1)})}",
  'next(0)',
].join('');
