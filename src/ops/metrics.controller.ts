import { Controller, Get, Header, Inject } from '@nestjs/common';
import type Redis from 'ioredis';
import { REDIS } from '../common/tokens';
import { renderClusterMetrics } from './cluster-metrics';
import { GatewayMetrics } from './gateway-metrics';

@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    const own = await this.metrics.registry.metrics();
    const cluster = await renderClusterMetrics(this.redis).catch(() => '');
    return `${own}${cluster}`;
  }
}
