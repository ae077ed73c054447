/**
 * Regenerates imports/ with cdk8s-cli's own importers, offline.
 *
 * `cdk8s import k8s@X` can only download its schema. We run the very same importer, but hand it the
 * `_definitions.json` of that release from a local folder (K8S_SCHEMA_DIR, default ../shared/kubernetes-schemas,
 * the team's mirror of cdk8s-team/cdk8s/kubernetes-schemas). CRDs are imported from the copies under crds/.
 * Output is deterministic: running it twice gives the same bytes.
 */
import * as fs from 'fs';
import * as path from 'path';

const K8S_VERSION = '1.27.0'; // matches cdk8s-plus-27
const CRDS = ['crds/bitnami.com_sealedsecrets.yaml', 'crds/source.toolkit.fluxcd.io_gitrepositories.yaml', 'crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml'];

async function main(): Promise<void> {
  const schemaDir = path.resolve(process.env.K8S_SCHEMA_DIR ?? path.join(__dirname, '..', '..', 'shared', 'kubernetes-schemas'));
  const schemaFile = path.join(schemaDir, `v${K8S_VERSION}`, '_definitions.json');
  if (!fs.existsSync(schemaFile)) {
    throw new Error(`import: ${schemaFile} not found. Set K8S_SCHEMA_DIR to a folder holding v${K8S_VERSION}/_definitions.json`);
  }

  // cdk8s-cli exports no API for importing, so we load its modules by file path.
  const cliRoot = path.dirname(require.resolve('cdk8s-cli/package.json'));
  // The importer fetches through util.download(); answer that one URL from the local file instead.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const util = require(path.join(cliRoot, 'lib', 'util.js'));
  const realDownload = util.download;
  util.download = async (url: string): Promise<string> => {
    if (url.endsWith(`/v${K8S_VERSION}/_definitions.json`)) return fs.readFileSync(schemaFile, 'utf-8');
    return realDownload(url);
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { importDispatch } = require(path.join(cliRoot, 'lib', 'import', 'dispatch.js'));
  const outdir = path.join(__dirname, '..', 'imports');
  const specs = [{ source: `k8s@${K8S_VERSION}` }, ...CRDS.filter((f) => fs.existsSync(f)).map((source) => ({ source }))];
  await importDispatch(specs, {}, { outdir, targetLanguage: 'typescript', save: false });
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
