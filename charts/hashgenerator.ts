import { Construct } from 'constructs';
import { AppChart } from '../lib/app-chart';
import { AppDeployment } from '../lib/app-deployment';
import { imageVersion } from '../lib/labels';
import { AppContainerSpec } from '../lib/pod-template';
import { IMAGE_ROOT, RESTRICTED } from '../lib/security';
import * as v from '../lib/validation';

export interface HashGeneratorConfig {
  readonly namespace: string;
  /** Pinned image (seed: `jakousa/dwk-app1:<commit sha>`). */
  readonly image: string;
  readonly replicas: number;
  /**
   * `image`: run the image as built (`npm start` as root; npm writes its logs under the home folder).
   * `restricted`: run `node index.js` directly as non-root on a read-only root filesystem.
   * @default 'image'
   */
  readonly runAs?: 'image' | 'restricted';
}

const APP = 'hashgenerator';

/** hashgenerator (DevOps with Kubernetes, part 1): prints a random hash every 5 s. Serves nothing. */
export class HashGeneratorChart extends AppChart {
  constructor(scope: Construct, id: string, config: HashGeneratorConfig) {
    super(scope, id, { partOf: APP });
    v.knownKeys(this, 'config', config, ['namespace', 'image', 'replicas', 'runAs']);
    const restricted = config.runAs === 'restricted';
    const run: Pick<AppContainerSpec, 'command' | 'workingDir' | 'security' | 'writablePaths'> = restricted
      ? { command: ['node', 'index.js'], workingDir: '/usr/src/app', security: RESTRICTED, writablePaths: ['/tmp'] }
      : { security: IMAGE_ROOT };

    new AppDeployment(this, 'HashGenerator', {
      name: `${APP}-dep`,
      namespace: config.namespace,
      identity: { name: APP, component: 'worker', version: imageVersion(config.image) },
      selectorLabels: { app: APP },
      replicas: config.replicas,
      containers: [{
        name: APP,
        image: config.image,
        ...run,
        // No probes, on purpose: it listens on no port and has no health signal. Its one failure mode is the
        // process exiting, which ends the container and makes the kubelet restart it; an exec probe could only
        // re-check that the process exists.
        resources: {
          cpu: { request: '5m', limit: '100m' },
          memory: { request: '32Mi', limit: '96Mi' },
          ephemeralStorage: { request: '8Mi', limit: '64Mi' },
        },
      }],
    });
  }
}
