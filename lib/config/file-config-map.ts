import * as fs from 'fs';
import * as path from 'path';
import { Construct } from 'constructs';
import { ValidationError } from '../core/errors';
import * as kplus from '../core/kplus';
import * as v from '../core/validation';

/** The API server rejects objects over 1 MiB; leave room for metadata. */
const MAX_DATA_BYTES = 1024 * 1024 - 4096;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

export interface FileConfigMapProps {
  /** ConfigMap name (DNS-1123 subdomain). */
  readonly name: string;
  readonly namespace: string;
  /** Data keys to repository files, like `kubectl create configmap --from-file`. Paths are relative to `baseDir`. */
  readonly files: Readonly<Record<string, string>>;
  /** Folder the paths are relative to. */
  readonly baseDir: string;
  /** Labels for the object. */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Values for `{{NAME}}` placeholders in the files (e.g. a listen port that differs per environment). Every
   * placeholder in a file must have a value and every value must be used, so a typo cannot ship a literal
   * `{{NAME}}`.
   * @default no placeholders allowed
   */
  readonly substitutions?: Readonly<Record<string, string | number>>;
}

const PLACEHOLDER = /\{\{([A-Z][A-Z0-9_]*)\}\}/g;

/**
 * A ConfigMap built from files in the repository, read at synth time. A missing, empty or oversized file is a
 * synth error, not a surprise at apply time.
 */
export class FileConfigMap extends Construct {
  public readonly name: string;
  public readonly configMap: kplus.ConfigMap;

  constructor(scope: Construct, id: string, props: FileConfigMapProps) {
    super(scope, id);
    this.name = v.dnsSubdomain(this, 'name', props.name);
    const data: Record<string, string> = {};
    let total = 0;
    const used = new Set<string>();
    for (const [key, rel] of Object.entries(props.files).sort(([a], [b]) => a.localeCompare(b))) {
      if (!CONFIG_KEY.test(key) || key.length > 253) {
        throw ValidationError.of(this, 'files key', key, 'must consist of letters, digits, "-", "_" and "." (a ConfigMap data key)');
      }
      const file = path.resolve(props.baseDir, rel);
      let content: string;
      try {
        content = fs.readFileSync(file, 'utf-8');
      } catch (e) {
        throw ValidationError.of(this, `files["${key}"]`, rel, `must be a readable file (${(e as NodeJS.ErrnoException).code ?? e})`);
      }
      if (content.trim().length === 0) throw ValidationError.of(this, `files["${key}"]`, rel, 'must not be empty');
      content = this.render(key, rel, content, props.substitutions ?? {}, used);
      total += Buffer.byteLength(content);
      if (total > MAX_DATA_BYTES) {
        throw ValidationError.of(this, `files["${key}"]`, rel, `brings the ConfigMap to ${total} bytes; Kubernetes objects must stay under 1 MiB`);
      }
      data[key] = content;
    }
    const unused = Object.keys(props.substitutions ?? {}).filter((k) => !used.has(k));
    if (unused.length) throw ValidationError.of(this, 'substitutions', unused.join(', '), 'must each appear as {{NAME}} in one of the files');
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: this.name, namespace: props.namespace, labels: { ...props.labels } },
      data,
    });
  }

  private render(key: string, rel: string, content: string, values: Readonly<Record<string, string | number>>, used: Set<string>): string {
    return content.replace(PLACEHOLDER, (_, name: string) => {
      if (!(name in values)) {
        throw ValidationError.of(this, `files["${key}"]`, rel, `has the placeholder {{${name}}} but substitutions has no ${name}`);
      }
      used.add(name);
      return String(values[name]);
    });
  }
}
