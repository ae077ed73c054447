import { Testing } from 'cdk8s';
import { ShopChart } from '../charts/shop';
import { local } from '../environments/local';

describe('ShopChart', () => {
  test('db with more than one replica is a synth-time error naming the field', () => {
    expect(() => new ShopChart(Testing.app(), 'shop', { ...local.shop, replicas: { ...local.shop.replicas, db: 2 } }))
      .toThrow(/shop\/db\/Workload: invalid replicas 2: must be exactly 1: db keeps its orders/);
  });

  test('renaming the namespace reaches every peer address', () => {
    const chart = new ShopChart(Testing.app(), 'shop', { ...local.shop, namespace: 'store' });
    const args = Testing.synth(chart).filter((o: any) => o.kind === 'Deployment').flatMap((d: any) => d.spec.template.spec.containers[0].args);
    expect(args).toContain('order-service.store:3002');
    expect(args.join(' ')).not.toContain('.shop:');
  });

  test('a prebuilt-image code source runs node directly, as non-root', () => {
    const chart = new ShopChart(Testing.app(), 'shop', {
      ...local.shop, codeSource: { kind: 'prebuilt-image', repository: 'registry.example.com/shop', tag: '1.0.0', workingDir: '/app' },
    });
    const gw = Testing.synth(chart).find((o: any) => o.kind === 'Deployment' && o.metadata.name === 'api-gateway') as any;
    const c = gw.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example.com/shop/api-gateway:1.0.0');
    expect(c.command).toEqual(['node', 'app.js']);
    expect(c.args).toEqual(['payment-service.shop:3001', 'order-service.shop:3002']);
    expect(c.securityContext.runAsNonRoot).toBe(true);
  });
});
