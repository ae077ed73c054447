import { Construct } from 'constructs';
import { AppChart, AppNamespace, imageVersion, platformOf, PodSecurityLevel, v } from '../lib/core';
import { AppContainerSpec, AppDeployment, IMAGE_ROOT, RESTRICTED } from '../lib/workloads';
import { DefaultDenyNetworkPolicy, WorkloadNetworkPolicy } from '../lib/networking';

export interface HashGeneratorConfig {
  /** Namespace; one other than `default` is created (and labelled for Pod Security) by the chart. */
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
  /**
   * Pod Security Admission level for the namespace (not for `default`).
   * @default none
   */
  readonly podSecurity?: PodSecurityLevel;
}

const APP = 'hashgenerator';
const NO_PROBE_REASON = 'hashgenerator listens on no port and has no health signal; its one failure is exiting, which restarts the container';

/** hashgenerator (DevOps with Kubernetes, part 1): prints a random hash every 5 s. Serves nothing. */
export class HashGeneratorChart extends AppChart {
  constructor(scope: Construct, id: string, config: HashGeneratorConfig) {
    super(scope, id, { partOf: APP });
    const platform = platformOf(this);
    v.knownKeys(this, 'config', config, v.keysOf<HashGeneratorConfig>({ namespace: true, image: true, replicas: true, runAs: true, podSecurity: true }));
    if (config.namespace !== 'default') {
      new AppNamespace(this, 'Namespace', { name: config.namespace, podSecurity: config.podSecurity });
    }
    const restricted = config.runAs === 'restricted';
    const run: Pick<AppContainerSpec, 'command' | 'workingDir' | 'security' | 'writablePaths'> = restricted
      ? { command: ['node', 'index.js'], workingDir: '/usr/src/app', security: RESTRICTED, writablePaths: ['/tmp'] }
      : { security: IMAGE_ROOT };

    const worker = new AppDeployment(this, 'HashGenerator', {
      name: `${APP}-dep`,
      namespace: config.namespace,
      identity: { name: APP, component: 'worker', version: imageVersion(config.image) },
      selectorLabels: { app: APP },
      replicas: config.replicas,
      // Upstream index.js installs no SIGTERM handler, and as PID 1 (runAs 'restricted' runs `node index.js`) the
      // kernel ignores SIGTERM for it: every stop waited the 30 s grace period and ended in SIGKILL (seen on a
      // node: exit 137). With the pause container as PID 1, SIGTERM's default action ends it at once; in 'image'
      // mode it likewise keeps npm from being PID 1.
      shareProcessNamespace: true,
      // No probes, on purpose (see NO_PROBE_REASON): an exec probe could only re-check that the process exists.
      annotations: {
        'ignore-check.kube-linter.io/no-liveness-probe': NO_PROBE_REASON,
        'ignore-check.kube-linter.io/no-readiness-probe': NO_PROBE_REASON,
      },
      containers: [{
        name: APP,
        image: config.image,
        ...run,
        resources: {
          cpu: { request: '5m', limit: '100m' },
          memory: { request: '32Mi', limit: '96Mi' },
          ephemeralStorage: { request: '8Mi', limit: '64Mi' },
        },
      }],
    });

    if (platform.networkPolicies) {
      new DefaultDenyNetworkPolicy(this, 'DefaultDeny', { namespace: config.namespace, system: APP });
      // It talks to nobody and nobody talks to it: DNS egress only.
      new WorkloadNetworkPolicy(this, 'Network', { target: worker });
    }
  }
}
