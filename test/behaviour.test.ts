import { selectEnvironments } from '../environments/app';
import { local } from '../environments/local';
import { K8sObject, allObjects, matches, podTemplates } from './support';

describe.each(selectEnvironments('').map((e) => [e.name, e] as const))('environment %s', (_name, env) => {
  const objects = allObjects(env);
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const ns = (o: K8sObject) => o.metadata.namespace ?? 'default';
  const templates = podTemplates(objects);

  test('the rules below have something to check (none passes by looping over nothing)', () => {
    for (const kind of ['Service', 'Deployment', 'Pod', 'Ingress']) expect([kind, byKind(kind).length > 0]).toEqual([kind, true]);
    const probed = templates.flatMap((t) => t.spec.containers).filter((c: any) => c.readinessProbe?.httpGet ?? c.readinessProbe?.tcpSocket);
    expect(probed.length).toBeGreaterThan(0);
  });

  test('every Service selects at least one pod template in its namespace', () => {
    const services = byKind('Service');
    expect(services.length).toBeGreaterThan(0);
    const selectingNothing = services.filter((svc) => !templates.some((t) => ns(t.owner) === ns(svc) && matches(svc.spec.selector ?? {}, t.labels)));
    expect(selectingNothing.map((svc) => `${ns(svc)}/${svc.metadata.name}`)).toEqual([]);
  });

  test('every port a Service targets is declared by a container it selects', () => {
    for (const svc of byKind('Service')) {
      const selected = templates.filter((t) => ns(t.owner) === ns(svc) && matches(svc.spec.selector, t.labels));
      const declared = selected.flatMap((t) => t.spec.containers.flatMap((c: any) => c.ports ?? []));
      for (const p of svc.spec.ports) {
        const hit = declared.find((d: any) => (typeof p.targetPort === 'string' ? d.name === p.targetPort : d.containerPort === p.targetPort));
        expect(hit ? `${svc.metadata.name}:${p.targetPort}` : `${svc.metadata.name}:${p.targetPort} undeclared`).toBe(`${svc.metadata.name}:${p.targetPort}`);
      }
    }
  });

  test('every probe port is a declared container port', () => {
    for (const t of templates) {
      for (const c of t.spec.containers) {
        for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'].map((k) => c[k]).filter(Boolean)) {
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          if (port === undefined) continue;
          expect((c.ports ?? []).map((p: any) => p.containerPort)).toContain(port);
        }
      }
    }
  });

  test('no object name carries a cdk8s hash, and no cdk8s-internal label is emitted', () => {
    for (const o of objects) {
      expect(o.metadata.name).not.toMatch(/-c8[0-9a-f]{6}$|-[0-9a-f]{8}$/);
      expect(JSON.stringify(o)).not.toContain('cdk8s.io/metadata.addr');
    }
  });

  test('every object carries the recommended labels', () => {
    for (const o of objects) {
      const labels = o.metadata.labels ?? {};
      expect(labels['app.kubernetes.io/managed-by']).toBe('cdk8s');
      expect(labels['app.kubernetes.io/part-of']).toBeTruthy();
      if (o.kind !== 'Namespace') {
        for (const k of ['name', 'instance', 'component']) expect([o.metadata.name, k, labels[`app.kubernetes.io/${k}`]]).toEqual([o.metadata.name, k, expect.any(String)]);
      }
    }
  });

  test('selectors use only stable labels (never the version)', () => {
    for (const d of byKind('Deployment')) {
      const sel = d.spec.selector.matchLabels;
      expect(Object.keys(sel)).not.toContain('app.kubernetes.io/version');
      expect(matches(sel, d.spec.template.metadata.labels)).toBe(true);
    }
    for (const s of byKind('Service')) expect(Object.keys(s.spec.selector)).not.toContain('app.kubernetes.io/version');
  });

  test('every Ingress backend is a Service port of the model', () => {
    for (const ing of byKind('Ingress')) {
      for (const rule of ing.spec.rules) {
        for (const p of rule.http.paths) {
          const svc = byKind('Service').find((s) => s.metadata.name === p.backend.service.name && ns(s) === ns(ing));
          expect(svc?.metadata.name).toBe(p.backend.service.name);
          expect(svc!.spec.ports.map((sp: any) => sp.port)).toContain(p.backend.service.port.number);
        }
      }
    }
  });

  test('shop peers are given the addresses of existing Services and ports', () => {
    const shop = objects.filter((o) => o.metadata.namespace === env.shop.namespace);
    const addresses = new Set(shop.filter((o) => o.kind === 'Service').flatMap((s) => s.spec.ports.map((p: any) => `${s.metadata.name}.${s.metadata.namespace}:${p.port}`)));
    const peerArgs = podTemplates(shop).flatMap((t) => t.spec.containers.flatMap((c: any) => (c.args ?? []).filter((a: string) => /^[a-z0-9-]+\.[a-z0-9-]+:\d+$/.test(a))));
    expect(peerArgs.length).toBeGreaterThan(0);
    for (const a of peerArgs) expect([...addresses]).toContain(a);
  });

  test('containers pin their images and set resources and a security context', () => {
    for (const t of templates) {
      for (const c of [...(t.spec.initContainers ?? []), ...t.spec.containers]) {
        expect(c.image).toMatch(/:(?!latest$)[\w][\w.-]*$|@sha256:[a-f0-9]{64}$/);
        for (const k of ['cpu', 'memory', 'ephemeral-storage']) {
          expect(c.resources.requests[k]).toBeDefined();
          expect(c.resources.limits[k]).toBeDefined();
        }
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      }
      expect(t.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    }
  });
});

describe('local environment (seed fidelity)', () => {
  const objects = allObjects(local);
  const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

  test('the seed objects exist under their exact names', () => {
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(names).toEqual(expect.arrayContaining([
      'Deployment/go-ok', 'Service/go-ok', 'Pod/go-ok-pod', 'Service/go-ok-pod', 'ConfigMap/nginx-proxy-conf', 'Ingress/go-ok',
      'Deployment/hashgenerator-dep', 'Namespace/shop',
      ...['api-gateway', 'order-service', 'payment-service', 'db'].flatMap((n) => [`Deployment/${n}`, `Service/${n}`]),
    ]));
  });

  test('the declared Pod keeps pod.yml: labels, env, port 80 named http, pull Always; its Service is NodePort 31000', () => {
    const pod = get('Pod', 'go-ok-pod');
    expect(pod.metadata.labels).toMatchObject({ app: 'go-ok-app', purpose: 'example' });
    const c = pod.spec.containers.find((x: any) => x.name === 'go-ok');
    // pod.yml's literals, then go-ok's identity fields from the downward API (test/stop-and-identity.test.ts).
    expect(c.env.filter((e: any) => 'value' in e)).toEqual([{ name: 'PORT', value: '80' }, { name: 'GIN_MODE', value: 'release' }]);
    expect(c.env.filter((e: any) => !('value' in e)).every((e: any) => e.valueFrom.fieldRef)).toBe(true);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 80 }]);
    expect(c.imagePullPolicy).toBe('Always');
    const svc = get('Service', 'go-ok-pod');
    expect(svc.spec.type).toBe('NodePort');
    expect(svc.spec.ports.find((p: any) => p.name === 'http')).toMatchObject({ port: 80, nodePort: 31000 });
  });

  test('the TLS sidecar mounts nginx-proxy-conf and the tls-certs Secret', () => {
    const pod = get('Pod', 'go-ok-pod');
    const nginx = pod.spec.containers.find((x: any) => x.name === 'nginx');
    expect(nginx.volumeMounts).toEqual(expect.arrayContaining([
      expect.objectContaining({ mountPath: '/etc/nginx/conf.d', name: 'nginx-proxy-conf' }),
      expect.objectContaining({ mountPath: '/etc/tls', name: 'tls-certs' }),
    ]));
    expect(pod.spec.volumes.find((v: any) => v.name === 'tls-certs').secret.secretName).toBe('tls-certs');
    expect(get('ConfigMap', 'nginx-proxy-conf').data['proxy.conf']).toContain('listen 443 ssl;');
    expect(get('ConfigMap', 'nginx-proxy-conf').data['proxy.conf']).not.toMatch(/^\s*ssl on;/m);
  });

  test('hashgenerator has no port, no Service and no HTTP probe', () => {
    const dep = get('Deployment', 'hashgenerator-dep');
    const c = dep.spec.template.spec.containers[0];
    expect(c.name).toBe('hashgenerator');
    expect(c.image).toBe('jakousa/dwk-app1:78031863af07c4c4cc3c96d07af68e8ce6e3afba');
    expect(c.ports ?? []).toEqual([]);
    expect(c.readinessProbe?.httpGet ?? c.livenessProbe?.httpGet ?? c.startupProbe).toBeUndefined();
    expect(dep.spec.selector.matchLabels).toEqual({ app: 'hashgenerator' });
  });

  test('the shop downloads pinned code and gets the seed\'s peer arguments', () => {
    const args = (name: string) => get('Deployment', name).spec.template.spec.containers[0].args;
    expect(args('api-gateway').slice(3)).toEqual(['payment-service.shop:3001', 'order-service.shop:3002']);
    expect(args('order-service').slice(3)).toEqual(['payment-service.shop:3001', 'db.shop:3004']);
    expect(args('payment-service').slice(3)).toEqual(['db.shop:3004']);
    expect(args('db').slice(3)).toEqual([]);
    expect(args('db')[1]).toContain('/8ec04469d4ca0b6cea96e5061cf896967220f607/db/app.js');
    expect(args('db')[1]).not.toContain('/master/');
    expect(get('Service', 'api-gateway').spec.type).toBe('LoadBalancer');
    for (const n of ['order-service', 'payment-service', 'db']) expect(get('Service', n).spec.type).toBe('ClusterIP');
  });
});
