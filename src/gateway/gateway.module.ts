import { BeforeApplicationShutdown, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { RedisClient } from '../store/redis-connection';
import { AguiController } from '../agui/agui.controller';
import { AguiRuns } from '../agui/agui-runs';
import { SessionWakeups } from '../agui/session-wakeups';
import { AuthModule } from '../auth/auth.module';
import { ThrottledErrorLog } from '../common/error-log';
import { AppConfig } from '../config/config';
import { QUEUE_JOB_COUNTS, REDIS, REDIS_SUBSCRIBER } from '../common/tokens';
import { EventLog } from '../events/event-log';
import { JobProducer } from '../jobs/job-producer';
import { openSubscriber } from '../store/redis-connection';
import { StoreWrites } from '../store/store-writes';
import { GatewayMetrics } from '../ops/gateway-metrics';
import { HealthController } from '../ops/health.controller';
import { MetricsController } from '../ops/metrics.controller';
import { RunTraces } from '../tracing/run-traces';
import { SessionCommands } from '../session/session-commands';
import { SessionDirectory } from '../session-api/session-directory';
import { SessionsController } from '../session-api/sessions.controller';
import { MawsGateway } from './maws.gateway';
import { SessionHub } from './session-hub';

/** The HTTP + WebSocket side: upgrade auth, frames, relay. It never runs an agent. */
@Module({
  imports: [AuthModule],
  controllers: [HealthController, MetricsController, SessionsController, AguiController],
  providers: [
    { provide: GatewayMetrics, useFactory: (writes: StoreWrites) => new GatewayMetrics(writes), inject: [StoreWrites] },
    MawsGateway,
    {
      provide: REDIS_SUBSCRIBER,
      useFactory: (config: AppConfig) => openSubscriber(config.redis, 'relay'),
      inject: [AppConfig],
    },
    {
      provide: JobProducer,
      useFactory: (config: AppConfig, redis: RedisClient) => new JobProducer(config.redis, redis),
      inject: [AppConfig, REDIS],
    },
    {
      provide: QUEUE_JOB_COUNTS,
      useFactory: (jobs: JobProducer) => () => jobs.jobCounts(),
      inject: [JobProducer],
    },
    {
      provide: SessionHub,
      useFactory: (log: EventLog, sub: RedisClient, metrics: GatewayMetrics, config: AppConfig) => {
        const hub = new SessionHub(log, sub, metrics, config.MAX_BUFFERED_BYTES);
        hub.startHeartbeat(config.HEARTBEAT_INTERVAL_MS, config.HEARTBEAT_TIMEOUT_MS);
        return hub;
      },
      inject: [EventLog, REDIS_SUBSCRIBER, GatewayMetrics, AppConfig],
    },
    {
      provide: SessionCommands,
      useFactory: (
        log: EventLog,
        jobs: JobProducer,
        redis: RedisClient,
        config: AppConfig,
        writes: StoreWrites,
        traces: RunTraces,
      ) =>
        new SessionCommands(
          log,
          jobs,
          redis,
          {
            maxActivePerUser: config.MAX_ACTIVE_RUNS_PER_USER,
            maxPerMinutePerUser: config.MAX_RUNS_PER_MINUTE_PER_USER,
            maxSessionsPerUser: config.MAX_SESSIONS_PER_USER,
          },
          writes,
          traces,
          { maxSubtasks: config.MAX_SUBTASKS, maxInputChars: config.MAX_INPUT_CHARS },
          config.RUN_RECORDS_KEPT,
        ),
      inject: [EventLog, JobProducer, REDIS, AppConfig, StoreWrites, RunTraces],
    },
    {
      provide: SessionDirectory,
      useFactory: (redis: RedisClient, log: EventLog, commands: SessionCommands) =>
        new SessionDirectory(redis, log, commands),
      inject: [REDIS, EventLog, SessionCommands],
    },
    {
      provide: AguiRuns,
      useFactory: (log: EventLog, commands: SessionCommands) => new AguiRuns(log, commands),
      inject: [EventLog, SessionCommands],
    },
    {
      // Its own subscriber, opened for the first AG-UI stream (see SessionWakeups).
      provide: SessionWakeups,
      useFactory: (config: AppConfig) => new SessionWakeups(() => openSubscriber(config.redis, 'agui')),
      inject: [AppConfig],
    },
  ],
  exports: [SessionHub, JobProducer, GatewayMetrics],
})
export class GatewayModule implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(JobProducer) private readonly jobs: JobProducer,
    @Inject(REDIS_SUBSCRIBER) private readonly subscriber: RedisClient,
    @Inject(SessionHub) private readonly hub: SessionHub,
    @Inject(SessionWakeups) private readonly wakeups: SessionWakeups,
  ) {}

  /** Sockets are told 1001 (going away) before Nest stops the HTTP server. */
  async beforeApplicationShutdown(): Promise<void> {
    this.hub.stopHeartbeat();
    await this.hub.closeAll(1001, 'server shutting down');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.jobs.close().catch(new ThrottledErrorLog('Gateway', 'closing the queues at shutdown').report);
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    await this.wakeups.close();
  }
}
