import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart, Duration, JsonPatch, Testing } from 'cdk8s';
import { kplus } from '../lib/core';
import { checkProbe } from '../lib/workloads/probes';
import { checkEscapeHatches } from '../synth/escape-hatches';
import { synthApp } from '../synth/synth-output';

// Three checks depend on what cdk8s and cdk8s-plus keep to themselves (lib/core/library-internals.ts). These tests
// fail on the version bump that changes one, and show that the checks then fail loudly instead of passing.

describe('what the checks read from the libraries is still there', () => {
  test('cdk8s-plus keeps a Probe\'s options as probeOptions', () => {
    const probe = kplus.Probe.fromTcpSocket({ port: 8080, periodSeconds: Duration.seconds(7), failureThreshold: 4 });
    const options = (probe as unknown as { probeOptions: kplus.ProbeOptions }).probeOptions;
    expect(options.periodSeconds?.toSeconds()).toBe(7);
    expect(options.failureThreshold).toBe(4);
  });

  test('cdk8s keeps an ApiObject\'s patches as patches, each rendered by _toJson() as {op, path}', () => {
    const obj = new ApiObject(Testing.chart(), 'o', { apiVersion: 'v1', kind: 'ConfigMap' });
    obj.addJsonPatch(JsonPatch.add('/data', { a: 'b' }));
    const patches = (obj as unknown as { patches: JsonPatch[] }).patches;
    expect(patches.map((p) => p._toJson())).toEqual([{ op: 'add', path: '/data', value: { a: 'b' } }]);
  });

  test('cdk8s writes every manifest through Yaml.save, so synthApp sees every object', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'internals-'));
    try {
      const app = new App({ outdir: dir, outputFileExtension: '.k8s.yaml' });
      for (const c of ['a', 'b']) {
        const chart = new Chart(app, c);
        for (const n of ['x', 'y', 'z']) new ApiObject(chart, n, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n } });
      }
      const written = synthApp(app);
      expect(written.map((w) => path.basename(w.file)).sort()).toEqual(['a.k8s.yaml', 'b.k8s.yaml']);
      expect(written.flatMap((w) => w.objects)).toHaveLength(6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('when they are gone, the checks fail loudly', () => {
  test('a Probe without probeOptions stops the probe check, naming the field', () => {
    const probe = kplus.Probe.fromTcpSocket({ port: 8080 });
    delete (probe as unknown as Record<string, unknown>).probeOptions;
    expect(() => checkProbe(Testing.chart(), 'web', 'readiness', probe)).toThrow(/cdk8s-plus-27 no longer keeps "probeOptions" on Probe/);
  });

  test('an ApiObject without patches stops the escape-hatch check, naming the field', () => {
    const chart = Testing.chart();
    const obj = new ApiObject(chart, 'o', { apiVersion: 'v1', kind: 'ConfigMap' });
    delete (obj as unknown as Record<string, unknown>).patches;
    expect(() => checkEscapeHatches(chart)).toThrow(/cdk8s no longer keeps "patches" on ApiObject/);
  });

  test('a manifest written without Yaml.save fails the synth: it would not be validated', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'internals-'));
    try {
      // An App that writes one chart the way a future cdk8s might: not through Yaml.save.
      class OtherWriter extends App {
        public synth(): void {
          fs.writeFileSync(path.join(this.outdir, 'a.k8s.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
        }
      }
      const app = new OtherWriter({ outdir: dir, outputFileExtension: '.k8s.yaml' });
      new ApiObject(new Chart(app, 'a'), 'x', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
      expect(() => synthApp(app)).toThrow(/cdk8s wrote 1 manifest file\(s\) with 1 object\(s\), but the synth saw 0 file\(s\) with 0 object\(s\).*not seen: a.k8s.yaml/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
