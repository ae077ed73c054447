import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing, Yaml } from 'cdk8s';
import { ENVIRONMENTS, EnvironmentConfig } from '../environments';
import { local } from '../environments/local';
import { buildApp } from '../environments/app';
import { AppChart } from '../lib/core/app-chart';
import { AppSecret, AppSecretProps } from '../lib/config/app-secret';
import { certificatePath, readCertificate, sealValues, sealedFilePath, writeSealedFile } from '../lib/config/secret-store';
import { parseSealingCertificate } from '../lib/config/sealing';
import { readManifests } from '../synth/synth-output';
import { seal } from '../deploy/seal';
import { K8sObject, allObjects } from './support';

// Secrets: sealing (checked against the real kubeseal), the AppSecret construct, its errors, and that no plaintext
// reaches anything git commits. All test values are throwaway, made here in a temporary folder.

const root = path.join(__dirname, '..');
/** The pinned kubeseal that scripts/tools.sh builds (KUBESEAL overrides it). */
const KUBESEAL = process.env.KUBESEAL ?? path.join(root, '.cache', 'bin', 'kubeseal');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const quiet = { log: () => undefined };
let projects = 0;

/** A throwaway key pair: a private key for `kubeseal --recovery-unseal`, and its self-signed certificate (openssl). */
function keyPair(dir: string, kind: 'rsa' | 'rsa-1024' | 'ec' = 'rsa'): { key: string; cert: string } {
  const { privateKey } = kind === 'ec'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: kind === 'rsa' ? 2048 : 1024 });
  const key = path.join(dir, `${kind}-key.pem`);
  const cert = path.join(dir, `${kind}-cert.pem`);
  fs.writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/CN=sealed-secret-test', '-days', '2', '-out', cert], { stdio: 'pipe' });
  return { key, cert };
}

const keys = (() => {
  const dir = path.join(tmp, 'keys');
  fs.mkdirSync(dir);
  return keyPair(dir);
})();

/** A project folder with `sealing/<env>.pem` (the throwaway certificate unless told otherwise). */
function project(env = 'test', certPem: string | null = fs.readFileSync(keys.cert, 'utf-8')): string {
  const dir = path.join(tmp, `project-${++projects}`);
  fs.mkdirSync(path.join(dir, 'sealing'), { recursive: true });
  if (certPem !== null) fs.writeFileSync(path.join(dir, certificatePath(env)), certPem);
  return dir;
}

/** Writes `files` into a new folder and returns it. */
function plainDir(parent: string, files: Record<string, string | Buffer>): string {
  const dir = fs.mkdtempSync(path.join(parent, 'plain-'));
  for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, k), v);
  return dir;
}

/** `local`, renamed, with go-ok (and so tls-certs) in namespace `apps` and a sealed source of its own. */
function testEnv(name = 'test'): EnvironmentConfig {
  return { ...local, name, goOk: { ...local.goOk, namespace: 'apps', tlsSecret: { kind: 'sealed', environment: name } } };
}

/** `npm run seal -- <env> tls-certs <dir>` in `proj`. */
function sealTls(proj: string, dir: string, env = testEnv()): string {
  return path.join(proj, seal([env.name, 'tls-certs', dir], { root: proj, cwd: proj, environments: [env], ...quiet }));
}

/** An AppSecret `apps/tls-certs` in a chart of its own, synthesized. */
function synthSecret(props: Partial<AppSecretProps> & { baseDir: string }): K8sObject[] {
  const chart = new AppChart(Testing.app(), 'test', { partOf: 'test' });
  new AppSecret(chart, 'TlsSecret', {
    name: 'tls-certs',
    namespace: 'apps',
    source: { kind: 'sealed', environment: 'test' },
    requiredKeys: ['cert.pem', 'key.pem'],
    labels: { 'app.kubernetes.io/name': 'test', 'app.kubernetes.io/instance': 'tls-certs', 'app.kubernetes.io/component': 'tls-proxy' },
    ...props,
  });
  return Testing.synth(chart) as K8sObject[];
}

/** Runs `kubeseal --recovery-unseal` on a SealedSecret with the throwaway private key. */
function unseal(sealedSecret: K8sObject): { status: number | null; secret?: K8sObject; stderr: string } {
  const r = spawnSync(KUBESEAL, ['--recovery-unseal', '--recovery-private-key', keys.key, '-o', 'json'], {
    input: JSON.stringify(sealedSecret), encoding: 'utf-8',
  });
  return { status: r.status, secret: r.status === 0 ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}

// The kubeseal tests need the pinned binary (scripts/tools.sh builds it into .cache/bin, with Go). `npm test` needs
// no Go, so on a workstation without it they are skipped, loudly; in CI (CI=true, which installs the tools first) a
// missing binary fails them, so the round trip always runs where it counts.
const isCI = !!process.env.CI && process.env.CI !== 'false';
const skipKubeseal = !fs.existsSync(KUBESEAL) && !isCI;
if (skipKubeseal) console.warn(`SKIPPED: kubeseal round-trip tests (no ${path.relative(root, KUBESEAL)}; run scripts/tools.sh to build it)`);

(skipKubeseal ? describe.skip : describe)('sealing, checked by the real kubeseal --recovery-unseal', () => {
  beforeAll(() => {
    if (!fs.existsSync(KUBESEAL)) {
      throw new Error(`kubeseal not found at ${path.relative(root, KUBESEAL)}: run scripts/tools.sh (needs Go)`
        + '; CI must run it before npm test');
    }
  });

  // Known bytes, including every byte value and a value larger than one AES block run.
  const values: Record<string, Buffer> = {
    'cert.pem': Buffer.from('-----BEGIN CERTIFICATE-----\nFAKE TEST CERTIFICATE, NOT A SECRET\n-----END CERTIFICATE-----\n'),
    'key.pem': Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)),
    'unicode.txt': Buffer.from('pässwörd ✓ 🔑 no trailing newline'),
    'large.bin': crypto.randomBytes(96 * 1024),
  };
  let sealedSecret: K8sObject;

  beforeAll(() => {
    const proj = project();
    sealTls(proj, plainDir(tmp, values));
    sealedSecret = synthSecret({ baseDir: proj })[0];
  });

  test('npm run seal + AppSecret make a SealedSecret that kubeseal unseals to exactly the input bytes', () => {
    const r = unseal(sealedSecret);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.secret!.metadata).toMatchObject({ name: 'tls-certs', namespace: 'apps' });
    expect(r.secret!.type).toBe('Opaque');
    expect(Object.keys(r.secret!.data).sort()).toEqual(Object.keys(values).sort());
    for (const [k, v] of Object.entries(values)) expect([k, Buffer.from(r.secret!.data[k], 'base64').equals(v)]).toEqual([k, true]);
  });

  test.each([
    ['another namespace', { namespace: 'other' }],
    ['another name', { name: 'other-certs' }],
  ])('a value sealed for apps/tls-certs does not unseal in %s (strict scope)', (_what, meta) => {
    const moved = { ...sealedSecret, metadata: { ...sealedSecret.metadata, ...meta } };
    const r = unseal(moved);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no key could decrypt secret/);
  });

  test('another private key cannot unseal it', () => {
    const other = keyPair(fs.mkdtempSync(path.join(tmp, 'other-')));
    const r = spawnSync(KUBESEAL, ['--recovery-unseal', '--recovery-private-key', other.key, '-o', 'json'], { input: JSON.stringify(sealedSecret), encoding: 'utf-8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no key could decrypt secret/);
  });
});

describe('AppSecret', () => {
  const fakeTls = { 'cert.pem': 'FAKE TEST CERTIFICATE, NOT A SECRET\n', 'key.pem': 'FAKE TEST KEY, NOT A SECRET\n' };

  test('sealed source: a strict-scope SealedSecret whose template makes the Secret with the same name, namespace, labels and type', () => {
    const proj = project();
    sealTls(proj, plainDir(tmp, fakeTls));
    const objects = synthSecret({ baseDir: proj });
    expect(objects).toHaveLength(1);
    // The ciphertext is random on every seal; everything else is fixed.
    expect(objects[0]).toMatchSnapshot({ spec: { encryptedData: { 'cert.pem': expect.any(String), 'key.pem': expect.any(String) } } });
    expect((objects[0].metadata as Record<string, unknown>).annotations).toBeUndefined(); // no namespace-wide or cluster-wide scope annotation
  });

  test('plain-files source: a plain Secret with one base64 key per file', () => {
    const proj = project();
    const dir = plainDir(proj, fakeTls);
    const objects = synthSecret({ baseDir: proj, source: { kind: 'plain-files', dir: path.relative(proj, dir) } });
    expect(objects).toHaveLength(1);
    expect(objects[0]).toMatchSnapshot();
    expect(Buffer.from(objects[0].data['key.pem'], 'base64').toString()).toBe(fakeTls['key.pem']);
  });

  test('go-ok: the sidecar mounts the Secret the chart seals, with the keys it needs', () => {
    const objects = allObjects(local);
    const sealed = objects.find((o) => o.kind === 'SealedSecret')!;
    const pod = objects.find((o) => o.kind === 'Pod' && o.metadata.name === 'go-ok-pod')!;
    const volume = pod.spec.volumes.find((v: any) => v.name === 'tls-certs');
    expect(volume.secret.secretName).toBe(sealed.metadata.name);
    expect(sealed.metadata.namespace).toBe(pod.metadata.namespace ?? 'default');
    expect(Object.keys(sealed.spec.encryptedData).sort()).toEqual(volume.secret.items.map((i: any) => i.key).sort());
  });

  test.each<[string, Partial<AppSecretProps>, RegExp]>([
    ['name', { name: 'TLS_certs' }, /test\/TlsSecret: invalid name "TLS_certs": must be a DNS-1123 subdomain/],
    ['source kind', { source: { kind: 'vault' } as any }, /invalid source\.kind "vault": must be "sealed" .* or "plain-files"/],
    ['sealed environment', { source: { kind: 'sealed', environment: 'Prod' } }, /invalid source\.environment "Prod"/],
    ['required key', { requiredKeys: ['cert pem'] }, /invalid requiredKeys "cert pem": must be Secret data keys/],
    ['type', { type: 'my type' }, /invalid type "my type"/],
    ['unknown prop', { keys: ['x'] } as any, /invalid props\.keys \["x"\]: is not a known setting/],
  ])('rejects a bad %s when constructed', (_what, props, message) => {
    expect(() => synthSecret({ baseDir: tmp, ...props })).toThrow(message);
  });
});

describe('secret errors name the Secret and the file', () => {
  const fakeTls = { 'cert.pem': 'FAKE CERT\n', 'key.pem': 'FAKE KEY\n' };
  const SECRET = 'Secret apps/tls-certs';
  const SEALED = 'secrets/test/tls-certs.yaml';
  const plain = (proj: string, files: Record<string, string> = fakeTls) => path.relative(proj, plainDir(proj, files));
  const writeSealed = (proj: string, id: { name?: string; namespace?: string; type?: string }, values: Record<string, string> = fakeTls) => {
    const cert = readCertificate('test', proj, 'test', { name: 'tls-certs', namespace: 'apps', type: 'Opaque' });
    const sealed = sealValues({ name: 'tls-certs', namespace: 'apps', type: 'Opaque', ...id }, cert, 'sealing/test.pem',
      Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v)])));
    writeSealedFile(path.join(proj, SEALED), sealed);
  };
  const editSealed = (proj: string, edit: (text: string) => string) => {
    writeSealed(proj, {});
    const file = path.join(proj, SEALED);
    fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf-8')));
  };
  const synth = (proj: string, props: Partial<AppSecretProps> = {}) => () => synthSecret({ baseDir: proj, ...props });
  const sealWith = (proj: string, ...sources: string[]) => () => seal(['test', 'tls-certs', ...sources], { root: proj, cwd: proj, environments: [testEnv()], ...quiet });
  const certPem = (kind: 'rsa-1024' | 'ec') => fs.readFileSync(keyPair(fs.mkdtempSync(path.join(tmp, 'k-')), kind).cert, 'utf-8');

  // [case, action, file named, what is wrong]
  const cases: [string, () => () => unknown, string | RegExp, RegExp][] = [
    ['missing sealed file', () => synth(project()), SEALED, /does not exist; seal the values with `npm run seal -- test tls-certs <files or folder>`/],
    ['unreadable sealed file', () => { const p = project(); fs.mkdirSync(path.join(p, SEALED), { recursive: true }); return synth(p); }, SEALED, /must be a readable file \(EISDIR\)/],
    ['sealed file for another name', () => { const p = project(); writeSealed(p, { name: 'web-certs' }); return synth(p); }, SEALED,
      /was sealed for Secret apps\/web-certs, not Secret apps\/tls-certs: strict scope binds/],
    ['sealed file for another namespace', () => { const p = project(); writeSealed(p, { namespace: 'default' }); return synth(p); }, SEALED,
      /was sealed for Secret default\/tls-certs, not Secret apps\/tls-certs/],
    ['sealed file for another type', () => { const p = project(); writeSealed(p, { type: 'kubernetes.io/tls' }); return synth(p); }, SEALED,
      /was sealed with type "kubernetes.io\/tls", but the Secret has type "Opaque"/],
    ['sealed file without a required key', () => { const p = project(); writeSealed(p, {}, { 'cert.pem': 'x' }); return synth(p); }, SEALED,
      /lacks the required keys key\.pem/],
    ['sealed file with truncated ciphertext', () => { const p = project(); editSealed(p, (t) => t.replace(/key\.pem: \S+/, 'key.pem: AgBy')); return synth(p); }, SEALED,
      /value for "key\.pem" that is not kubeseal ciphertext/],
    ['sealed file that is not YAML', () => { const p = project(); editSealed(p, () => 'name: [unclosed'); return synth(p); }, SEALED, /is not valid YAML/],
    ['sealed file with an unknown field', () => { const p = project(); editSealed(p, (t) => `${t}data: x\n`); return synth(p); }, SEALED, /unknown: data/],
    ['missing plain folder', () => { const p = project(); return synth(p, { source: { kind: 'plain-files', dir: 'secrets/test/plain/tls-certs' } }); },
      'secrets/test/plain/tls-certs', /must be a readable file or folder \(ENOENT\)/],
    ['plain source that is a file', () => { const p = project(); fs.writeFileSync(path.join(p, 'certs.pem'), 'x'); return synth(p, { source: { kind: 'plain-files', dir: 'certs.pem' } }); },
      'certs.pem', /must be a folder with one file per key/],
    ['plain folder without a required key', () => { const p = project(); return synth(p, { source: { kind: 'plain-files', dir: plain(p, { 'cert.pem': 'x' }) } }); },
      /plain-[^"]+"/, /lacks the files key\.pem/],
    ['plain folder with an empty file', () => { const p = project(); return synth(p, { source: { kind: 'plain-files', dir: plain(p, { 'cert.pem': 'x', 'key.pem': '' }) } }); },
      /plain-\w+\/key\.pem/, /is empty/],
    ['synth: an EC sealing certificate', () => { const p = project(); writeSealed(p, {}); fs.writeFileSync(path.join(p, 'sealing/test.pem'), certPem('ec')); return synth(p); },
      'sealing/test.pem', /holds an EC public key; sealed-secrets needs an RSA public certificate/],
    ['synth: a sealing certificate that is not one', () => { const p = project(); writeSealed(p, {}); fs.writeFileSync(path.join(p, 'sealing/test.pem'), 'garbage\n'); return synth(p); },
      'sealing/test.pem', /is not a PEM certificate/],
    ['synth: a file sealed with another certificate than the current one', () => {
      const p = project(); writeSealed(p, {});
      fs.writeFileSync(path.join(p, 'sealing/test.pem'), fs.readFileSync(keyPair(fs.mkdtempSync(path.join(tmp, 'k-'))).cert));
      return synth(p);
    }, SEALED, /was sealed with the certificate [0-9A-F:]+, which is neither sealing\/test.pem \([0-9A-F:]+\) nor one kept in sealing\/test.previous\/: the controller would not open it/],
    ['synth: a broken certificate in the previous ones', () => {
      const p = project(); writeSealed(p, {});
      fs.mkdirSync(path.join(p, 'sealing/test.previous')); fs.writeFileSync(path.join(p, 'sealing/test.previous/old.pem'), 'garbage\n');
      return synth(p);
    }, 'sealing/test.previous/old.pem', /is not a PEM certificate/],
    ['seal: missing plaintext file', () => { const p = project(); return sealWith(p, 'cert.pem=nope/cert.pem', 'key.pem=nope/key.pem'); }, 'nope/cert.pem',
      /must be a readable file or folder \(ENOENT\)/],
    ['seal: plaintext without a required key', () => { const p = project(); return sealWith(p, plain(p, { 'cert.pem': 'x' })); }, /plain-/,
      /must give the keys cert\.pem, key\.pem; missing: key\.pem/],
    ['seal: missing certificate', () => { const p = project('test', null); return sealWith(p, plain(p)); }, 'sealing/test.pem',
      /must be a readable file \(ENOENT\); fetch it with `kubeseal --fetch-cert > sealing\/test.pem`/],
    ['seal: EC certificate', () => { const p = project('test', certPem('ec')); return sealWith(p, plain(p)); }, 'sealing/test.pem',
      /holds an EC public key; sealed-secrets needs an RSA public certificate/],
    ['seal: 1024-bit RSA certificate', () => { const p = project('test', certPem('rsa-1024')); return sealWith(p, plain(p)); }, 'sealing/test.pem',
      /holds a 1024-bit RSA key; at least 2048 bits/],
    ['seal: private key as certificate', () => { const p = project('test', fs.readFileSync(keys.key, 'utf-8')); return sealWith(p, plain(p)); }, 'sealing/test.pem',
      /holds a private key/],
    ['seal: not a certificate', () => { const p = project('test', 'hello\n'); return sealWith(p, plain(p)); }, 'sealing/test.pem', /is not a PEM certificate/],
  ];

  test('synth: a file sealed with a previous certificate listed in sealing/<env>.previous/ is accepted (a rotated controller keeps old keys)', () => {
    const p = project(); writeSealed(p, {});
    fs.mkdirSync(path.join(p, 'sealing/test.previous'));
    fs.copyFileSync(path.join(p, 'sealing/test.pem'), path.join(p, 'sealing/test.previous/2026-11.pem'));
    fs.writeFileSync(path.join(p, 'sealing/test.pem'), fs.readFileSync(keyPair(fs.mkdtempSync(path.join(tmp, 'k-'))).cert));
    expect(synth(p)).not.toThrow();
  });

  test.each(cases)('%s', (_case, act, file, wrong) => {
    const run = act();
    expect(run).toThrow(SECRET);
    expect(run).toThrow(typeof file === 'string' ? `"${file}` : file);
    expect(run).toThrow(wrong);
  });

  test('seal: a Secret the environment does not declare, and one it does not seal, are errors', () => {
    const p = project();
    expect(() => seal(['test', 'db-password', plain(p)], { root: p, cwd: p, environments: [testEnv()], ...quiet }))
      .toThrow(/invalid Secret name for environment "test" "db-password": must be a Secret the environment declares: tls-certs/);
    const plainEnv: EnvironmentConfig = { ...testEnv(), goOk: { ...testEnv().goOk, tlsSecret: { kind: 'plain-files', dir: 'secrets/test/plain/tls-certs' } } };
    expect(() => seal(['test', 'tls-certs', plain(p)], { root: p, cwd: p, environments: [plainEnv], ...quiet }))
      .toThrow(/source of Secret apps\/tls-certs in environment "test" "secrets\/test\/plain\/tls-certs": is plain files/);
    expect(() => seal(['prod', 'tls-certs', plain(p)], { root: p, cwd: p, environments: [testEnv()], ...quiet }))
      .toThrow(/invalid environment "prod": must be one of: test/);
  });

  test('npm run seal: usage errors exit 1 with the usage line', () => {
    const r = spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), ['deploy/seal.ts', 'local'], { cwd: root, encoding: 'utf-8' });
    expect([r.status, r.stderr.trim()]).toEqual([1, 'usage: npm run seal -- <environment> <secret-name> <folder | file | key=file>...']);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf-8')).scripts.seal).toBe('tsx deploy/seal.ts');
  });

  test('an expired sealing certificate is refused, like kubeseal does', () => {
    const pem = fs.readFileSync(keys.cert, 'utf-8');
    expect(typeof parseSealingCertificate(pem)).toBe('object');
    expect(parseSealingCertificate(pem, new Date(Date.now() + 3 * 86400_000))).toMatch(/^expired on .*kubeseal --fetch-cert/);
  });
});

describe('no plaintext is committed', () => {
  /** Every file git would commit (tracked, or new and not ignored), plus dist/, __snapshots__/ and imports/. */
  function committedFiles(): string[] {
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf-8' }).split('\0').filter(Boolean);
    const walked = ['dist', '__snapshots__', 'imports'].flatMap((d) => (fs.existsSync(path.join(root, d))
      ? fs.readdirSync(path.join(root, d), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)))
      : []));
    return [...new Set([...listed, ...walked])].filter((f) => fs.existsSync(path.join(root, f)) && fs.statSync(path.join(root, f)).isFile());
  }

  /** What a value looks like in a file: raw, or base64 at any of the three byte alignments. */
  function needles(value: Buffer): Buffer[] {
    const b64 = [0, 1, 2].map((shift) => Buffer.concat([Buffer.alloc(shift), value]).toString('base64').slice(4, -4));
    return [value, ...b64.map((s) => Buffer.from(s))];
  }

  let contents: [string, Buffer][] | undefined;
  function filesContaining(value: Buffer): string[] {
    contents ??= committedFiles().map((f) => [f, fs.readFileSync(path.join(root, f))]);
    const ns = needles(value);
    return contents.filter(([, content]) => ns.some((n) => content.includes(n))).map(([f]) => f);
  }

  test('a sealed and synthesized canary is in no file git would commit, nor in dist/, __snapshots__/ or imports/', () => {
    const canary = Buffer.from(`canary-${crypto.randomBytes(24).toString('hex')}`);
    const proj = project();
    const sealedFile = sealTls(proj, plainDir(tmp, { 'cert.pem': canary, 'key.pem': canary }));
    const synthesized = Yaml.stringify(...synthSecret({ baseDir: proj }));
    for (const n of needles(canary)) {
      expect(fs.readFileSync(sealedFile).includes(n)).toBe(false);
      expect(synthesized.includes(n.toString())).toBe(false);
    }
    expect(filesContaining(canary)).toEqual([]);
  });

  test('no local plaintext (secrets/**/plain/) is in a file git would commit, nor in dist/, __snapshots__/ or imports/', () => {
    const secrets = path.join(root, 'secrets');
    const plainFiles = fs.existsSync(secrets)
      ? fs.readdirSync(secrets, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && path.relative(secrets, e.parentPath).split(path.sep).includes('plain'))
        .map((e) => path.join(e.parentPath, e.name))
      : [];
    for (const f of plainFiles) {
      const content = fs.readFileSync(f);
      // Whole file, and each long line (a PEM body line survives any re-encoding of the file around it).
      const parts = [content, ...content.toString('utf-8').split('\n').filter((l) => l.trim().length >= 40).map((l) => Buffer.from(l.trim()))];
      for (const part of parts) expect([path.relative(root, f), filesContaining(part)]).toEqual([path.relative(root, f), []]);
    }
  });

  test('the committed dist/ holds no Secret with data or stringData, and committed environments get SealedSecrets', () => {
    const dist = path.join(root, 'dist');
    const envs = fs.readdirSync(dist, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(envs.length).toBeGreaterThan(0);
    const objects = envs.flatMap((env) => readManifests(path.join(dist, env)).map(({ object }) => ({ env, object })));
    expect(objects.filter(({ object }) => object.kind === 'Secret' && (object.data || object.stringData))
      .map(({ env, object }) => `${env}: Secret ${object.metadata?.name}`)).toEqual([]);
    expect(objects.filter(({ env, object }) => env === 'local' && object.kind === 'SealedSecret').map(({ object }) => object.metadata.name)).toEqual(['tls-certs']);
    expect(execFileSync('git', ['ls-files', 'dist-local', ':(glob)secrets/**/plain/**'], { cwd: root, encoding: 'utf-8' })).toBe('');
  });
});

describe('environments and their secrets', () => {
  const declared = (env: EnvironmentConfig) => buildApp(env, os.tmpdir()).node.findAll().filter((c): c is AppSecret => c instanceof AppSecret);

  // production-standin's are sealed at test time, for the test cluster's controller (test/production-standin.test.ts).
  // production-two's are production's on purpose (environments/production-two.ts: production's model for the Flux
  // suite's second cluster, where no controller unseals them): the test below pins exactly that.
  test('production-two: its sealed secrets are exactly production\'s', () => {
    const two = ENVIRONMENTS.find((e) => e.name === 'production-two')!;
    const prod = ENVIRONMENTS.find((e) => e.name === 'production')!;
    const of = (env: EnvironmentConfig) => declared(env).map((s) => [s.name, s.source.kind === 'sealed' ? s.source.environment : s.source.kind]);
    expect(of(two)).toEqual(of(prod));
    expect(of(two).every(([, e]) => e === 'production')).toBe(true);
  });
  test.each(ENVIRONMENTS.filter((e) => e.name !== 'production-standin' && e.name !== 'production-two').map((e) => [e.name, e] as const))('%s: sealed secrets are its own and committed; plain ones go only to dist-local/', (_name, env) => {
    for (const s of declared(env)) {
      if (s.source.kind === 'sealed') {
        expect([s.name, s.source.environment]).toEqual([s.name, env.name]);
        expect([s.sealedFile, fs.existsSync(path.join(root, s.sealedFile!))]).toEqual([sealedFilePath(env.name, s.name), true]);
        const cert = readCertificate('test', root, env.name, s);
        expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBeGreaterThanOrEqual(2048);
      } else {
        expect([s.name, env.outputRoot]).toEqual([s.name, 'dist-local']);
        // The plaintext folder must be git-ignored.
        expect(spawnSync('git', ['check-ignore', '-q', path.join(s.source.dir, 'key.pem')], { cwd: root }).status).toBe(0);
      }
    }
  });

  test('local-plain is local with a plain tls-certs, written only to dist-local/ and only on request', () => {
    const env = ENVIRONMENTS.find((e) => e.name === 'local-plain')!;
    expect(env).toMatchObject({ outputRoot: 'dist-local', synthByDefault: false });
    expect(env.goOk.tlsSecret).toEqual({ kind: 'plain-files', dir: 'secrets/local/plain/tls-certs' });
    expect(local.goOk.tlsSecret).toEqual({ kind: 'sealed', environment: 'local' });
  });

  test('the committed sealing certificates are RSA certificates without a private key', () => {
    for (const f of fs.readdirSync(path.join(root, 'sealing'))) {
      const pem = fs.readFileSync(path.join(root, 'sealing', f), 'utf-8');
      expect([f, pem]).not.toEqual([f, expect.stringMatching(/PRIVATE KEY/)]);
      expect([f, typeof parseSealingCertificate(pem)]).toEqual([f, 'object']);
    }
  });
});
