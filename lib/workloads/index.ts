// What runs: Deployments and the declared Pod, the pod template every container goes through (security,
// resources, probes), how node programs get their code, the TLS-proxy sidecar, and what keeps a workload
// available (PodDisruptionBudget, topology spread, HPA). WebService = AppDeployment + ExposedService.

export * from './app-deployment';
export * from './app-pod';
export * from './autoscaler';
export * from './availability';
export * from './image-lock';
export * from './node-app-source';
export * from './pod-template';
export * as probes from './probes';
export * from './quantity';
export * from './security';
export * from './sha256-sums';
export * from './tls-proxy';
export * from './web-service';
export * from './workload';
