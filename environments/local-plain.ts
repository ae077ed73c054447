import { EnvironmentConfig } from './environment';
import { local } from './local';

/**
 * `local` with plain Secrets from git-ignored files, for a throwaway minikube/k3d cluster without the sealed-secrets
 * controller. Written only to the git-ignored `dist-local/local-plain/`, and only by `npm run synth:local-plain`
 * (it needs the local files, which a fresh clone or CI does not have).
 */
export const localPlain: EnvironmentConfig = {
  ...local,
  name: 'local-plain',
  outputRoot: 'dist-local',
  synthByDefault: false,
  goOk: {
    ...local.goOk,
    // cert.pem and key.pem; secrets/**/plain/ is git-ignored.
    tlsSecret: { kind: 'plain-files', dir: 'secrets/local/plain/tls-certs' },
  },
};
