import { EnvironmentConfig } from './environment';
import { production } from './production';

/** The second cluster of the GitOps suite (test/cluster/flux.sh, test 7). */
export const PRODUCTION_TWO = 'production-two';

/**
 * Production's model for a second cluster reconciled by Flux from the same repository: derived from `production` in
 * code, so that the two cannot drift apart, and differing only in its name, so that it has its own bootstrap
 * (Kustomization `production-two`, reconciler `production-two-reconciler`, `dist/production-two/`). Namespaces
 * repeat production's: each environment is alone on its cluster (deploy/targets.json).
 *
 * It is what a team adds per cluster (README, "GitOps"), and the smallest honest second GitOps environment: `local`
 * cannot be one as it is (it uses the `default` namespace, and its platform chart's ClusterRoles are outside what a
 * reconciler may write). Its SealedSecrets are production's (sealed with sealing/production.pem): a real second
 * cluster gets its own controller's certificate (sealing/<env>.pem) and re-seals. Written to the git-ignored
 * `dist-local/` and only when asked for (`SYNTH_ENVIRONMENTS=production-two`): nothing runs it but the suite.
 */
export function secondCluster(base: EnvironmentConfig, name: string): EnvironmentConfig {
  return { ...base, name, outputRoot: 'dist-local', synthByDefault: false };
}

export const productionTwo: EnvironmentConfig = secondCluster(production, PRODUCTION_TWO);
