import { DynamicModule, Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type { RedisClient } from './store/redis-connection';
import { AppConfig } from './config/config';
import { EventLog, eventLogOptions } from './events/event-log';
import { openRedis } from './store/redis-connection';
import { createModelProvider } from './llm/create-model-provider';
import type { ModelProvider } from './llm/model-provider';
import { redisUsageMeter } from './ops/redis-usage-meter';
import { RunStore } from './store/run-store';
import { StoreWrites } from './store/store-writes';
import { RunTraces } from './tracing/run-traces';
import { MODEL_PROVIDER, REDIS } from './common/tokens';

/** What every role shares: the config, one Redis command connection, the event log. */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(MODEL_PROVIDER) private readonly model: ModelProvider,
    @Inject(StoreWrites) private readonly writes: StoreWrites,
  ) {}

  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: AppConfig, useValue: config },
        {
          provide: REDIS,
          useFactory: () => openRedis(config.redis, 'commands', {}, { coalesceWrites: true }),
        },
        {
          provide: EventLog,
          useFactory: (redis: RedisClient) => new EventLog(redis, eventLogOptions(config)),
          inject: [REDIS],
        },
        { provide: RunStore, useFactory: (redis: RedisClient) => new RunStore(redis), inject: [REDIS] },
        { provide: StoreWrites, useFactory: (redis: RedisClient) => new StoreWrites(redis, 'Redis'), inject: [REDIS] },
        {
          provide: RunTraces,
          useFactory: (redis: RedisClient) => new RunTraces(redis, config.HISTORY_TTL_SECONDS),
          inject: [REDIS],
        },
        {
          provide: MODEL_PROVIDER,
          useFactory: () =>
            createModelProvider(config, redisUsageMeter(config.redis), (message) => new Logger('Model').warn(message)),
        },
      ],
      exports: [AppConfig, REDIS, EventLog, RunStore, StoreWrites, MODEL_PROVIDER, RunTraces],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    // Runs have stopped by now (the worker module stops first): count their last calls.
    await this.model.close?.();
    this.writes.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
