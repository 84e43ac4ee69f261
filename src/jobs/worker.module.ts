import { Inject, Logger, Module, OnApplicationBootstrap, BeforeApplicationShutdown } from '@nestjs/common';
import { RunResolver } from '../agents/run-resolver';
import { AppConfig } from '../config/config';
import type { RedisClient } from '../store/redis-connection';
import { MODEL_PROVIDER, REDIS } from '../common/tokens';
import { JobProducer } from './job-producer';
import { LostRunRequeuer } from './lost-run-requeuer';
import { EventLog } from '../events/event-log';
import type { ModelProvider } from '../llm/model-provider';
import { RunStore } from '../store/run-store';
import { StoreWrites } from '../store/store-writes';
import { ClarifierThread } from './clarifier-thread';
import { ResolverProcessor } from './processors/resolver.processor';
import { openSubscriber } from '../store/redis-connection';
import { ToolRegistry } from '../tools/tool-registry';
import { RunTraces } from '../tracing/run-traces';

/** The worker side: the resolver queue here, the clarifier queue on its own thread. It never holds a socket. */
@Module({
  providers: [
    {
      provide: ResolverProcessor,
      useFactory: (
        config: AppConfig,
        log: EventLog,
        runs: RunStore,
        model: ModelProvider,
        writes: StoreWrites,
        tools: ToolRegistry,
        traces: RunTraces,
      ) =>
        new ResolverProcessor(
          new RunResolver(
            log,
            runs,
            model,
            {
              maxSubtasks: config.MAX_SUBTASKS,
              maxReplans: config.MAX_REPLANS,
              planReview: config.PLAN_REVIEW,
              inputTtlSeconds: config.INPUT_TTL_SECONDS,
              deltaFlushMs: config.DELTA_FLUSH_MS,
              modelTimeoutMs: config.MODEL_TIMEOUT_MS,
            },
            writes,
            tools,
          ),
          log,
          runs,
          openSubscriber(config.redis, 'control'),
          writes,
          {
            redis: config.redis,
            concurrency: config.WORKER_CONCURRENCY,
            lockMs: config.WORKER_LOCK_MS,
            stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
            shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
          },
          traces,
        ),
      inject: [AppConfig, EventLog, RunStore, MODEL_PROVIDER, StoreWrites, ToolRegistry, RunTraces],
    },
    {
      provide: ToolRegistry,
      useFactory: (config: AppConfig) => {
        const logger = new Logger('Tools');
        return ToolRegistry.fromConfig(config, (message) => logger.warn(message));
      },
      inject: [AppConfig],
    },
    {
      provide: ClarifierThread,
      useFactory: (config: AppConfig) => new ClarifierThread(config),
      inject: [AppConfig],
    },
    {
      provide: LostRunRequeuer,
      useFactory: (config: AppConfig, redis: RedisClient, runs: RunStore, log: EventLog) =>
        new LostRunRequeuer(redis, runs, new JobProducer(config.redis), log, {
          intervalMs: Math.min(5_000, config.LOST_RUN_GRACE_MS),
          graceMs: config.LOST_RUN_GRACE_MS,
        }),
      inject: [AppConfig, REDIS, RunStore, EventLog],
    },
  ],
})
export class WorkerModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(ResolverProcessor) private readonly resolver: ResolverProcessor,
    @Inject(ClarifierThread) private readonly clarifier: ClarifierThread,
    @Inject(LostRunRequeuer) private readonly requeuer: LostRunRequeuer,
    @Inject(ToolRegistry) private readonly tools: ToolRegistry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all([this.resolver.start(), this.clarifier.start()]);
    this.requeuer.start();
  }

  /** Stop taking jobs and let running ones finish before Redis connections close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.requeuer.stop();
    await Promise.all([this.resolver.stop(), this.clarifier.stop(), this.requeuer.close()]);
    // After the runs: their MCP servers' processes end with the worker.
    await this.tools.close();
  }
}
