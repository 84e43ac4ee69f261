import { Controller, Get, Header, Inject } from '@nestjs/common';
import type { RedisClient } from '../store/redis-connection';
import { ThrottledErrorLog } from '../common/error-log';
import { QUEUE_JOB_COUNTS, REDIS, type QueueJobCounts } from '../common/tokens';
import { renderClusterMetrics } from './cluster-metrics';
import { GatewayMetrics } from './gateway-metrics';

@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(QUEUE_JOB_COUNTS) private readonly jobCounts: () => Promise<QueueJobCounts>,
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
    const queues = await this.jobCounts().then(renderQueueDepth, (err: unknown) => {
      this.clusterErrors.report(err);
      return '';
    });
    return `${own}${cluster}${queues}`;
  }
}

/** The queues' depth (whole deployment: BullMQ's keys in Redis). */
function renderQueueDepth(counts: QueueJobCounts): string {
  const lines = [
    '# HELP maws_queue_jobs Jobs in each queue by state (whole deployment)',
    '# TYPE maws_queue_jobs gauge',
  ];
  for (const [queue, states] of Object.entries(counts)) {
    for (const [state, n] of Object.entries(states))
      lines.push(`maws_queue_jobs{queue="${queue}",state="${state}"} ${n}`);
  }
  return `${lines.join('\n')}\n`;
}
