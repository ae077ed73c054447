// cdk8s validation plugin (declared in cdk8s.yaml `validations:`): validates every synthesized object against
// the official Kubernetes schemas at each configured version, strictly, and reports violations in cdk8s's
// report format. A plain `cdk8s synth` runs it after the app.
'use strict';
const path = require('path');

class KubernetesSchemaValidation {
  constructor(props = {}) {
    this.versions = props.versions;
    this.schemaRoot = path.resolve(props.schemaRoot ?? 'schemas');
  }

  async validate(context) {
    // The validator is TypeScript shared with main.ts and the tests; load it through tsx's require hook.
    const unregister = require('tsx/cjs/api').register();
    let violations;
    try {
      const { SchemaValidator, KUBERNETES_VERSIONS } = require('../lib/schema-validation.ts');
      const objects = context.manifests.flatMap((file) => context.parseManifest(file).filter(Boolean).map((object) => ({ file, object })));
      violations = new SchemaValidator(this.schemaRoot).validate(objects, this.versions ?? KUBERNETES_VERSIONS);
      context.logger.log(`validated ${objects.length} objects against Kubernetes ${(this.versions ?? KUBERNETES_VERSIONS).join(', ')}`);
    } finally {
      unregister();
    }
    const byRule = new Map();
    for (const v of violations) {
      const rule = `${v.message} (Kubernetes ${v.kubernetesVersion})`;
      if (!byRule.has(rule)) byRule.set(rule, []);
      byRule.get(rule).push({ resourceName: v.object, locations: [v.pointer || '/'], manifestPath: v.file });
    }
    for (const [ruleName, violatingResources] of byRule) {
      context.report.addViolation({
        ruleName,
        recommendation: 'The API server would reject this object, or silently drop the field.',
        fix: 'Fix the construct props that produce this field; see the Kubernetes API reference for the kind.',
        violatingResources,
      });
    }
    context.report.submit(violations.length ? 'failure' : 'success');
  }
}

module.exports = { KubernetesSchemaValidation };
