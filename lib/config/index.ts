// What a workload is given: Secrets (sealed for the cluster, or plain for a local-only target), the
// sealing certificates and sealed files they read, and ConfigMaps built from repository files.

export * from './app-secret';
export * from './file-config-map';
export * from './sealing';
export * from './secret-store';
