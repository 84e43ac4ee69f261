import { Controller, Get, Header, Inject } from '@nestjs/common';
import type Redis from 'ioredis';
import { ThrottledErrorLog } from '../common/error-log';
import { REDIS } from '../common/tokens';
import { renderClusterMetrics } from './cluster-metrics';
import { GatewayMetrics } from './gateway-metrics';

@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  private readonly clusterErrors = new ThrottledErrorLog('Metrics', 'the deployment-wide metrics could not be read');

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    const own = await this.metrics.registry.metrics();
    // Without Redis the gateway's own metrics are still worth a scrape; the logs say why the rest is missing.
    const cluster = await renderClusterMetrics(this.redis).catch((err: unknown) => {
      this.clusterErrors.report(err);
      return '';
    });
    return `${own}${cluster}`;
  }
}
