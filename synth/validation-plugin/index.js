// cdk8s validation plugin (declared in cdk8s.yaml `validations:`): validates every synthesized object against
// the official Kubernetes schemas at each configured version, strictly, and reports violations in cdk8s's
// report format. A plain `cdk8s synth` runs it after the app.
//
// main.ts already validates with the same code before it replaces dist/, and leaves a stamp with the sha256 of
// every manifest and schema it used. When the manifests and schemas on disk still hash the same, validating again
// would only repeat that work, so the plugin reports the stamp instead (~5 ms against ~0.5 s).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const STAMP = '.schema-validated.json'; // synth/schema-validation.ts VALIDATION_STAMP

class KubernetesSchemaValidation {
  constructor(props = {}) {
    this.versions = props.versions;
    this.schemaRoot = path.resolve(props.schemaRoot ?? 'schemas');
  }

  async validate(context) {
    if (this.stampCovers(context.manifests)) {
      context.logger.log(`${context.manifests.length} manifests unchanged since main.ts validated them against the committed schemas`);
      context.report.submit('success');
      return;
    }
    // The validator is TypeScript shared with main.ts and the tests; load it through tsx's require hook.
    const unregister = require('tsx/cjs/api').register();
    let violations;
    try {
      const { SchemaValidator, KUBERNETES_VERSIONS } = require('../schema-validation.ts');
      const objects = context.manifests.flatMap((file) => context.parseManifest(file).filter(Boolean).map((object) => ({ file, object })));
      violations = new SchemaValidator(this.schemaRoot, path.resolve('.cache', 'schema-validators')).validate(objects, this.versions ?? KUBERNETES_VERSIONS);
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

  /** True when a stamp next to the manifests lists exactly these manifests, and every file still hashes the same. */
  stampCovers(manifests) {
    if (this.versions || manifests.length === 0) return false; // custom versions: validate for real
    let stampFile = path.join(commonDir(manifests), STAMP);
    // main.ts writes the stamp at the top of the staging folder, above the per-environment folders.
    while (!fs.existsSync(stampFile) && path.dirname(path.dirname(stampFile)).startsWith(process.cwd())) {
      stampFile = path.join(path.dirname(path.dirname(stampFile)), STAMP);
    }
    if (!fs.existsSync(stampFile)) return false;
    const { files } = JSON.parse(fs.readFileSync(stampFile, 'utf-8'));
    const manifestSet = new Set(manifests.map((m) => path.resolve(m)));
    const stamped = Object.keys(files).filter((f) => !f.startsWith(this.schemaRoot + path.sep));
    if (stamped.length !== manifestSet.size || !stamped.every((f) => manifestSet.has(f))) return false;
    return Object.entries(files).every(([f, hash]) => fs.existsSync(f) && sha256(fs.readFileSync(f)) === hash);
  }
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** The staging folder: the longest common parent of the manifests' folders. */
function commonDir(files) {
  let dir = path.dirname(path.resolve(files[0]));
  while (!files.every((f) => path.resolve(f).startsWith(dir + path.sep))) dir = path.dirname(dir);
  return dir;
}

module.exports = { KubernetesSchemaValidation };
