// What the systems need from the cluster before they can run, deployed by this repository where an environment
// asks for it: the sealed-secrets controller (ServiceAccount, least-privilege RBAC, hardened Deployment, and the
// Service of its certificate endpoint) that unseals the SealedSecrets of config/.

export * from './sealed-secrets-controller';
