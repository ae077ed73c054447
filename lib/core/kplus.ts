// The one import point for cdk8s-plus, so that moving to cdk8s-plus-28+ is a one-line change.
export * from 'cdk8s-plus-27';
