import { Construct } from 'constructs';
import { AppDeployment, AppDeploymentProps } from './app-deployment';
import { ExposedService, ServicePortSpec } from '../networking/exposed-service';
import * as kplus from '../core/kplus';

export interface WebServiceProps extends AppDeploymentProps {
  /** @default ClusterIP */
  readonly serviceType?: kplus.ServiceType;
  /**
   * Service ports.
   * @default every declared container port, at the same number
   */
  readonly servicePorts?: readonly ServicePortSpec[];
}

/** A stateless network service: an AppDeployment and the Service derived from it, sharing its name. */
export class WebService extends Construct {
  public readonly workload: AppDeployment;
  public readonly service: ExposedService;

  constructor(scope: Construct, id: string, props: WebServiceProps) {
    super(scope, id);
    this.workload = new AppDeployment(this, 'Workload', props);
    this.service = new ExposedService(this, 'Service', {
      target: this.workload,
      type: props.serviceType,
      ports: props.servicePorts,
    });
  }

  public get name(): string {
    return this.service.name;
  }

  /** `<service>.<namespace>:<port>`, e.g. `order-service.shop:3002`. */
  public get address(): string {
    return this.service.address();
  }
}
