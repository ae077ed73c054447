import { ApiObject, Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { SealedSecret } from '../../imports/bitnami.com';
import { KubeSecret } from '../../imports/k8s';
import { ValidationError } from '../core/errors';
import { projectRoot } from '../core/project-root';
import {
  SecretId, SealedFile, checkSealedFor, checkSealedWithKnownCertificate, knownCertificates, isSecretKey, missingKeys, readPlainFiles, readSealedFile, sealCommand, sealedFilePath, secretRef, shown,
} from './secret-store';
import * as v from '../core/validation';

/** Ciphertext committed in `secrets/<environment>/<name>.yaml` (made by `npm run seal`): emits a SealedSecret. */
export interface SealedSource {
  readonly kind: 'sealed';
  /** The environment whose sealed files and sealing certificate (`sealing/<environment>.pem`) are used. */
  readonly environment: string;
}

/**
 * Plaintext files in a local, git-ignored folder, one key per file name: emits a plain Secret, which main.ts only
 * lets into the git-ignored `dist-local/` (minikube, k3d).
 */
export interface PlainFilesSource {
  readonly kind: 'plain-files';
  /** The folder, relative to the project root, e.g. `secrets/local/plain/tls-certs`. */
  readonly dir: string;
}

/** Where a Secret's values come from. */
export type SecretSource = SealedSource | PlainFilesSource;

export interface AppSecretProps {
  /** Secret name (DNS-1123 subdomain); the one pods mount. */
  readonly name: string;
  readonly namespace: string;
  readonly source: SecretSource;
  /**
   * Keys the consumers read (e.g. `cert.pem`, `key.pem`); each must be in the source, or synth fails.
   * @default no key is required
   */
  readonly requiredKeys?: readonly string[];
  /**
   * Kubernetes Secret type.
   * @default 'Opaque'
   */
  readonly type?: string;
  /**
   * Labels of the object, and of the Secret the controller unseals.
   * @default only the chart's labels
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Folder that the source's paths are relative to.
   * @default the project root (the folder holding cdk8s.yaml)
   */
  readonly baseDir?: string;
}

const PROPS = v.keysOf<AppSecretProps>({ name: true, namespace: true, source: true, requiredKeys: true, type: true, labels: true, baseDir: true });
const SECRET_TYPE = /^[-._a-zA-Z0-9/]{1,253}$/;

/**
 * A Secret whose values never enter git: a SealedSecret (bitnami.com/v1alpha1) from a committed sealed file, or,
 * for a local cluster only, a plain Secret from git-ignored files. The props are checked here; the files are read
 * when the object is synthesized, so that `npm run seal` can find the Secrets the model declares (name, namespace,
 * type, keys) before any sealed file exists.
 */
export class AppSecret extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly type: string;
  public readonly source: SecretSource;
  public readonly requiredKeys: readonly string[];
  /** The SealedSecret or the plain Secret. */
  public readonly apiObject: ApiObject;
  private readonly baseDir: string;
  private loaded?: SealedFile | Record<string, Buffer>;

  constructor(scope: Construct, id: string, props: AppSecretProps) {
    super(scope, id);
    v.knownKeys(this, 'props', props, PROPS);
    this.name = v.dnsSubdomain(this, 'name', props.name);
    this.namespace = v.dnsLabel(this, 'namespace', props.namespace);
    this.type = props.type ?? 'Opaque';
    if (typeof this.type !== 'string' || !SECRET_TYPE.test(this.type)) {
      throw ValidationError.of(this, 'type', this.type, 'must be a Secret type such as "Opaque" or "kubernetes.io/tls"');
    }
    this.requiredKeys = [...v.unique(this, 'requiredKeys', props.requiredKeys ?? [])];
    for (const k of this.requiredKeys) {
      if (!isSecretKey(k)) throw ValidationError.of(this, 'requiredKeys', k, 'must be Secret data keys: letters, digits, "-", "_" and "."');
    }
    const labels = v.labels(this, 'labels', { ...props.labels });
    this.source = checkSource(this, props.source);
    this.baseDir = props.baseDir ?? projectRoot();

    const metadata = { name: this.name, namespace: this.namespace, labels };
    const load = () => this.load();
    if (this.source.kind === 'sealed') {
      this.apiObject = new LoadingSealedSecret(this, 'Resource', load, {
        metadata: { ...metadata, labels: { ...labels } },
        spec: Lazy.any({
          produce: () => ({
            encryptedData: { ...(load() as SealedFile).encryptedData },
            // The Secret the controller makes: same name, namespace and labels (the chart's too) as this object.
            template: { metadata: { ...metadata, labels: { ...Chart.of(this).labels, ...labels } }, type: this.type },
          }),
        }),
      });
    } else {
      this.apiObject = new LoadingKubeSecret(this, 'Resource', load, {
        metadata: { ...metadata, labels: { ...labels } },
        type: this.type,
        data: Lazy.any({
          produce: () => Object.fromEntries(Object.entries(load() as Record<string, Buffer>).map(([k, b]) => [k, b.toString('base64')])),
        }),
      });
    }
  }

  /** `secrets/<env>/<name>.yaml` for a sealed source. */
  public get sealedFile(): string | undefined {
    return this.source.kind === 'sealed' ? sealedFilePath(this.source.environment, this.name) : undefined;
  }

  private get secretId(): SecretId {
    return { name: this.name, namespace: this.namespace, type: this.type };
  }

  /** Reads and checks the source, once. */
  private load(): SealedFile | Record<string, Buffer> {
    if (this.loaded) return this.loaded;
    const where = this.node.path;
    if (this.source.kind === 'sealed') {
      const rel = this.sealedFile!;
      const field = `sealed file of ${secretRef(this)}`;
      const hint = sealCommand(this.source.environment, this.name);
      const sealed = readSealedFile(where, field, this.baseDir, rel, hint);
      checkSealedFor(where, field, rel, sealed, this.secretId, hint);
      checkSealedWithKnownCertificate(where, field, rel, sealed, knownCertificates(where, `sealing certificate for ${secretRef(this)}`, this.baseDir, this.source.environment), this.source.environment, hint);
      const missing = missingKeys(this.requiredKeys, Object.keys(sealed.encryptedData));
      if (missing.length) throw new ValidationError(where, field, rel, `lacks the required keys ${missing.join(', ')}; re-seal with \`${hint}\``);
      this.loaded = sealed;
    } else {
      const field = `plain-files source of ${secretRef(this)}`;
      const data = readPlainFiles(where, field, this.baseDir, [this.source.dir], true);
      const missing = missingKeys(this.requiredKeys, Object.keys(data));
      if (missing.length) {
        throw new ValidationError(where, field, shown(this.baseDir, this.source.dir), `lacks the files ${missing.join(', ')} (one file per key)`);
      }
      this.loaded = data;
    }
    return this.loaded;
  }
}

function checkSource(scope: Construct, source: SecretSource): SecretSource {
  const s = source as { kind?: unknown };
  if (s?.kind === 'sealed') {
    v.knownKeys(scope, 'source', source as SealedSource, ['kind', 'environment']);
    v.dnsLabel(scope, 'source.environment', (source as SealedSource).environment);
  } else if (s?.kind === 'plain-files') {
    v.knownKeys(scope, 'source', source as PlainFilesSource, ['kind', 'dir']);
    const dir = (source as PlainFilesSource).dir;
    if (typeof dir !== 'string' || dir.trim() === '') throw ValidationError.of(scope, 'source.dir', dir, 'must be a folder path, relative to the project root');
  } else {
    throw ValidationError.of(scope, 'source.kind', s?.kind, 'must be "sealed" (a committed sealed file) or "plain-files" (local files, dist-local/ only)');
  }
  return source;
}

// The files are read before serializing (rather than inside the Lazy values, where cdk8s would wrap the error), so
// a missing or wrong file is reported as the ValidationError it is.
class LoadingSealedSecret extends SealedSecret {
  constructor(scope: Construct, id: string, private readonly load: () => unknown, props: ConstructorParameters<typeof SealedSecret>[2]) {
    super(scope, id, props);
  }
  public override toJson(): any {
    this.load();
    return super.toJson();
  }
}

class LoadingKubeSecret extends KubeSecret {
  constructor(scope: Construct, id: string, private readonly load: () => unknown, props: ConstructorParameters<typeof KubeSecret>[2]) {
    super(scope, id, props);
  }
  public override toJson(): any {
    this.load();
    return super.toJson();
  }
}
