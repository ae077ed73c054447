import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { MANAGED_BY } from './labels';

export interface AppChartProps {
  /** `app.kubernetes.io/part-of` for every object of the chart: the system's name. */
  readonly partOf: string;
}

/**
 * A chart for one system. Hash suffixes are off (names are exactly what the model says), and every object,
 * cdk8s-plus-made ones included, carries `part-of` and `managed-by`.
 */
export class AppChart extends Chart {
  constructor(scope: Construct, id: string, props: AppChartProps) {
    super(scope, id, {
      disableResourceNameHashes: true,
      labels: { 'app.kubernetes.io/part-of': props.partOf, 'app.kubernetes.io/managed-by': MANAGED_BY },
    });
  }
}
