// How an environment gets from git into its cluster when a GitOps engine does it (platform.gitops): Flux's source
// (a GitRepository) and the Kustomizations that apply dist/<env>/, the reconciler's ServiceAccount and the RBAC
// that limits it to what the environment owns. The chart that writes them is charts/gitops.ts.

export * from './flux-sync';
