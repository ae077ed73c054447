// Shared building blocks every construct uses: the chart base class (AppChart), the namespace, labels,
// the platform settings an environment turns on, prop validation and its error type, the one import point
// for cdk8s-plus (kplus), and how constructs find repository files (projectRoot).
// A new construct goes in the folder of its concern (workloads/, networking/, config/), not here.

export * from './app-chart';
export * from './app-namespace';
export * from './errors';
export * as kplus from './kplus';
export * from './labels';
export * from './platform';
export * from './project-root';
export * as v from './validation';
export * from './server-defaults';
export * from './platform-rules';
