import { production } from '../environments/production';
import { K8sObject, allObjects, matches, podTemplates } from './support';

// The production policy (../shared policy checklist: PSS restricted, resources, probes, availability, network
// isolation) asserted in TypeScript, so a regression fails `npm test` even where the Go linters are not installed.
const objects = allObjects(production);
const of = (kind: string) => objects.filter((o) => o.kind === kind);
const ns = (o: K8sObject) => o.metadata.namespace;
const templates = podTemplates(objects);
const containersOf = (spec: any) => [...(spec.initContainers ?? []), ...spec.containers];
const annotation = (o: K8sObject, key: string) => o.metadata.annotations?.[key];

describe('production: Pod Security Standards "restricted"', () => {
  test('every namespace enforces, warns and audits restricted', () => {
    const names = new Set(objects.filter((o) => o.kind !== 'Namespace').map(ns));
    expect(names.has(undefined)).toBe(false);
    expect(names.has('default')).toBe(false);
    for (const name of names) {
      const labels = of('Namespace').find((n) => n.metadata.name === name)?.metadata.labels ?? {};
      for (const mode of ['enforce', 'warn', 'audit']) expect([name, mode, labels[`pod-security.kubernetes.io/${mode}`]]).toEqual([name, mode, 'restricted']);
    }
  });

  test.each(templates.map((t) => [`${t.owner.kind}/${t.owner.metadata.name}`, t] as const))('%s runs as restricted', (_id, t) => {
    const pod = t.spec.securityContext;
    expect(pod.runAsNonRoot).toBe(true);
    expect(pod.runAsUser).toBeGreaterThanOrEqual(10000);
    expect(pod.runAsGroup).toBeGreaterThanOrEqual(10000);
    expect(pod.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const s of pod.sysctls ?? []) expect(['net.ipv4.ip_unprivileged_port_start', 'net.ipv4.ping_group_range']).toContain(s.name);
    expect(t.spec.hostNetwork ?? false).toBe(false);
    expect(t.spec.automountServiceAccountToken).toBe(false);
    for (const v of t.spec.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name')[0]).toMatch(/^(configMap|secret|emptyDir|projected|downwardAPI)$/);
    for (const c of containersOf(t.spec)) {
      const sc = c.securityContext;
      expect([c.name, sc.allowPrivilegeEscalation, sc.privileged ?? false, sc.readOnlyRootFilesystem, sc.capabilities?.drop])
        .toEqual([c.name, false, false, true, ['ALL']]);
      expect(sc.capabilities?.add ?? []).toEqual([]);
      expect(sc.runAsUser ?? pod.runAsUser).not.toBe(0);
    }
  });
});

describe('production: resources, images, probes', () => {
  test.each(templates.map((t) => [`${t.owner.kind}/${t.owner.metadata.name}`, t] as const))('%s', (_id, t) => {
    for (const c of containersOf(t.spec)) {
      for (const k of ['cpu', 'memory', 'ephemeral-storage']) {
        expect([c.name, k, typeof c.resources.requests[k], typeof c.resources.limits[k]]).toEqual([c.name, k, 'string', 'string']);
      }
      // Small programs: nothing near cdk8s-plus's 1-1.5 CPU defaults.
      expect(c.resources.requests.cpu).toMatch(/^\d+m$/);
      expect(c.image).toMatch(/:[\w][\w.-]*$|@sha256:[a-f0-9]{64}$/);
      expect(c.image).not.toMatch(/:latest$/);
      expect(c.imagePullPolicy).toBe('Always');
    }
    const served = t.spec.containers.filter((c: any) => (c.ports ?? []).length > 0);
    for (const c of served) {
      expect(c.readinessProbe).toBeDefined();
      expect(c.livenessProbe).toBeDefined();
      // kube-score pod-probes-identical: the two must not be the same check.
      const handler = (p: any) => JSON.stringify(p.httpGet ?? p.tcpSocket ?? p.exec);
      expect(handler(c.readinessProbe)).not.toEqual(handler(c.livenessProbe));
    }
    for (const c of t.spec.containers.filter((x: any) => !x.readinessProbe)) {
      // Only a program that serves nothing goes without probes, and says why.
      expect(c.ports ?? []).toEqual([]);
      expect(annotation(t.owner, 'ignore-check.kube-linter.io/no-readiness-probe')).toBeTruthy();
    }
  });
});

describe('production: availability', () => {
  const hpaTargets = new Set(of('HorizontalPodAutoscaler').map((h) => `${ns(h)}/${h.spec.scaleTargetRef.name}`));

  test.each(of('Deployment').map((d) => [d.metadata.name, d] as const))('Deployment %s', (_name, d) => {
    const scaled = hpaTargets.has(`${ns(d)}/${d.metadata.name}`);
    const served = of('Service').some((s) => ns(s) === ns(d) && matches(s.spec.selector, d.spec.template.metadata.labels));
    if (scaled) {
      expect(d.spec.replicas).toBeUndefined();
      const hpa = of('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === d.metadata.name)!;
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    }
    const several = scaled || d.spec.replicas >= 2;
    if (served && !several) {
      // Only a deliberate single replica (db: in-memory data), with the linters told why.
      expect(d.metadata.name).toBe('db');
      expect(annotation(d, 'kube-score/ignore')).toContain('deployment-replicas');
    }
    if (several) {
      const pdbs = of('PodDisruptionBudget').filter((p) => ns(p) === ns(d) && matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdbs).toHaveLength(1);
      expect(pdbs[0].spec.maxUnavailable).toBe(1);
      expect(pdbs[0].spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
      expect(d.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
      expect(d.spec.template.spec.topologySpreadConstraints[0].maxSkew).toBe(1);
    }
  });

  test('no process binds a privileged port, so no pod needs the unprivileged-port sysctl', () => {
    for (const t of templates) {
      expect([t.owner.metadata.name, t.spec.securityContext.sysctls]).toEqual([t.owner.metadata.name, undefined]);
      for (const c of t.spec.containers) for (const p of c.ports ?? []) expect([c.name, p.containerPort >= 1024]).toEqual([c.name, true]);
    }
  });

  test('the declared Pod\'s Service offers only https, the one port its NetworkPolicy admits, on 443', () => {
    const svc = of('Service').find((s) => s.metadata.name === 'go-ok-pod')!;
    expect(svc.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https' }]);
  });

  test('db stays at exactly one replica', () => {
    expect(of('Deployment').find((d) => d.metadata.name === 'db')!.spec.replicas).toBe(1);
  });

  test('no NodePort, and every Ingress terminates TLS', () => {
    for (const s of of('Service')) expect([s.metadata.name, s.spec.type]).toEqual([s.metadata.name, 'ClusterIP']);
    for (const i of of('Ingress')) expect(i.spec.tls?.[0]?.hosts).toEqual(i.spec.rules.map((r: any) => r.host));
  });

  test('every workload has its own ServiceAccount with no token', () => {
    for (const t of templates) {
      const sa = of('ServiceAccount').find((a) => ns(a) === ns(t.owner) && a.metadata.name === t.spec.serviceAccountName);
      expect([t.owner.metadata.name, sa?.metadata.name]).toEqual([t.owner.metadata.name, t.owner.metadata.name]);
      expect(sa!.automountServiceAccountToken).toBe(false);
    }
  });
});

describe('production: NetworkPolicies', () => {
  const policies = of('NetworkPolicy');
  const policyFor = (t: { owner: K8sObject; labels: Record<string, string> }) =>
    policies.filter((p) => ns(p) === ns(t.owner) && Object.keys(p.spec.podSelector.matchLabels ?? {}).length > 0 && matches(p.spec.podSelector.matchLabels, t.labels));
  const allows = (from: { labels: Record<string, string> }, to: { owner: K8sObject; labels: Record<string, string> }, port: number) =>
    policyFor(to).some((p) => (p.spec.ingress ?? []).some((r: any) => r.ports.some((x: any) => x.port === port)
      && r.from.some((f: any) => f.podSelector && !f.namespaceSelector && matches(f.podSelector.matchLabels, from.labels))));
  const egress = (from: { owner: K8sObject; labels: Record<string, string> }, to: { labels: Record<string, string> }, port: number) =>
    policyFor(from).some((p) => (p.spec.egress ?? []).some((r: any) => r.ports.some((x: any) => x.port === port)
      && r.to.some((f: any) => f.podSelector && matches(f.podSelector.matchLabels, to.labels))));
  const t = (name: string) => templates.find((x) => x.owner.metadata.name === name)!;

  test('each namespace denies by default', () => {
    for (const name of new Set(templates.map((x) => ns(x.owner)))) {
      const deny = policies.find((p) => ns(p) === name && Object.keys(p.spec.podSelector).length === 0);
      expect([name, deny?.spec.policyTypes]).toEqual([name, ['Ingress', 'Egress']]);
      expect(deny!.spec.ingress ?? []).toEqual([]);
      expect(deny!.spec.egress ?? []).toEqual([]);
    }
  });

  test('every pod is selected by exactly one policy of its own, with one label, both directions and DNS', () => {
    for (const x of templates) {
      const own = policyFor(x);
      expect([x.owner.metadata.name, own.length]).toEqual([x.owner.metadata.name, 1]);
      expect(Object.keys(own[0].spec.podSelector.matchLabels)).toHaveLength(1);
      expect(own[0].spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(own[0].spec.egress[0].ports.map((p: any) => `${p.protocol}/${p.port}`)).toEqual(['UDP/53', 'TCP/53']);
    }
  });

  test('exactly the shop flows the system needs', () => {
    const flows: [string, string, number][] = [
      ['api-gateway', 'order-service', 3002], ['api-gateway', 'payment-service', 3001],
      ['order-service', 'payment-service', 3001], ['order-service', 'db', 3004], ['payment-service', 'db', 3004],
    ];
    for (const [from, to, port] of flows) {
      expect([from, to, allows(t(from), t(to), port), egress(t(from), t(to), port)]).toEqual([from, to, true, true]);
    }
    // and nothing else between them
    const names = ['api-gateway', 'order-service', 'payment-service', 'db'];
    const ports: Record<string, number> = { 'api-gateway': 3000, 'order-service': 3002, 'payment-service': 3001, 'db': 3004 };
    for (const from of names) {
      for (const to of names) {
        if (from === to || flows.some(([f, d]) => f === from && d === to)) continue;
        expect([from, to, allows(t(from), t(to), ports[to])]).toEqual([from, to, false]);
      }
    }
  });

  test('only the Ingress controller reaches the front doors', () => {
    for (const name of ['api-gateway', 'go-ok', 'go-ok-pod']) {
      const from = policyFor(t(name))[0].spec.ingress.flatMap((r: any) => r.from);
      expect(from.length).toBeGreaterThan(0);
      for (const f of from) expect([name, f.namespaceSelector?.matchLabels]).toEqual([name, { 'kubernetes.io/metadata.name': 'ingress-nginx' }]);
    }
    expect(policyFor(t('hashgenerator-dep'))[0].spec.ingress).toBeUndefined(); // deny all: policyTypes has Ingress
  });
});
