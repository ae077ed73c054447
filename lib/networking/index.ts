// How a workload is reached and fenced: the Service derived from the workload it exposes, the TLS Ingress
// for a host, and the NetworkPolicies (default deny plus the flows the model declares).

export * from './exposed-service';
export * from './host-ingress';
export * from './network-policy';
