import 'reflect-metadata';
import { Logger, ValidationPipe, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppModule, Role, ROLES } from './app.module';
import { setErrorSink } from './common/error-log';
import { redact } from './common/redact';
import { TokenService } from './auth/token-service';
import { AppConfig, ConfigError, loadConfig, traceExportOf } from './config/config';
import { MawsGateway } from './gateway/maws.gateway';
import { MawsWsAdapter } from './gateway/maws-ws-adapter';
import { SessionHub } from './gateway/session-hub';
import { JobProducer } from './jobs/job-producer';
import { ResolverProcessor } from './jobs/processors/resolver.processor';
import { lowerThreadPriority } from './jobs/run-thread-priority';
import { PinoNestLogger } from './logging/nest-logger';
import { accessLogs } from './logging/access-logs';
import { createRootLogger, LogFormatUnavailableError } from './logging/root-logger';
import type { Logger as PinoLogger } from 'pino';
import { BULL_BOARD_PATH, bullBoardRouter } from './ops/bull-board';
import { redisProblemAt } from './store/redis-version';
import { pageSecurityHeaders } from './web/page-security';
import { startTracing, stopTracing, tracingActive } from './tracing/tracing';
import { startWorkCounters } from './ops/work-counters';

/**
 * Past SHUTDOWN_GRACE_MS, what is still closing has this long; then the process exits
 * whatever Redis does (gone, stalled, refusing writes). A run not handed back by then is left
 * for another worker, which takes it over once its lock expires, as after a crash.
 */
const SHUTDOWN_MARGIN_MS = 5_000;

/** Largest JSON body the HTTP APIs take (413 past it). */
const MAX_JSON_BODY = '4mb';

async function main(): Promise<void> {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!ROLES.includes(role)) {
    console.error(`Unknown role "${role}": use one of ${ROLES.join(', ')} (node dist/main.js all|gateway|worker)`);
    process.exit(2);
  }
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(redact(err.message));
      process.exit(1);
    }
    throw err;
  }
  let logger: PinoLogger;
  try {
    logger = createRootLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role });
  } catch (err) {
    if (!(err instanceof LogFormatUnavailableError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  // Before anything that makes spans (queues, the gateway): with no exporter asked for, nothing.
  const tracing = startTracing(traceExportOf(config), {
    serviceName: config.OTEL_SERVICE_NAME,
    role,
    version: packageVersion(),
    recordContent: config.MAWS_TRACE_CONTENT,
  });
  if (tracingActive()) logger.info(tracing);
  // What runs did (tool calls, requests to the person, replans, steers), for /metrics.
  const counters = startWorkCounters(config.redis, config.INPUT_TTL_SECONDS);
  const flush = (): Promise<unknown> => Promise.all([stopTracing(SHUTDOWN_MARGIN_MS / 2), counters.close()]);
  // Nest's lines, and every Logger.log(message, context), as JSON lines.
  const nestLogger = new PinoNestLogger(logger);
  Logger.overrideLogger(nestLogger);
  setErrorSink((context, message, level) => logger[level === 'log' ? 'info' : level]({ context }, message));
  if (!config.JWT_SECRET && config.AUTH_DEV_TOKENS) {
    // Dev tokens without a secret: one made up for this process (other gateways won't share it).
    config.JWT_SECRET = randomBytes(32).toString('base64url');
    logger.warn('JWT_SECRET is not set: tokens are signed with a random secret valid for this process only');
  }

  // Signal handlers go in before anything starts, so a SIGTERM at any moment is graceful.
  const running: { app?: INestApplicationContext; stopping?: string; runsHeld: () => number } = {
    runsHeld: () => 0,
  };
  const shutdown = (signal: string): void => {
    if (running.stopping) return;
    running.stopping = signal;
    // The bound holds from the signal on, also while start-up waits for a Redis that is down.
    boundShutdown(() => running.runsHeld(), config.SHUTDOWN_GRACE_MS);
    // A signal during start-up is acted on as soon as start-up ends.
    if (running.app) stop(running.app, signal, running.runsHeld, flush);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  // Asked beside start-up, not before it: a process started while Redis is away still comes
  // up (and waits for it, as before); one that finds a Redis too old says so and stops.
  void redisProblemAt(config).then(
    (problem) => {
      if (!problem) return;
      logger.fatal(problem);
      process.exit(1);
    },
    () => undefined, // Not answered (Redis away, then this process stopping): nothing to say.
  );
  const app =
    role === 'worker'
      ? await startWorker(config, nestLogger, logger)
      : await startGateway(role, config, nestLogger, logger);
  if (role !== 'gateway') {
    // Asked for once here: Nest ends the process when asked for a provider a role lacks.
    const resolver = app.get(ResolverProcessor);
    running.runsHeld = () => resolver.runsHeld;
  }
  running.app = app;
  if (running.stopping) stop(app, running.stopping, running.runsHeld, flush);
}

/** Graceful: exit 0 once everything is closed and every run handed back, else 1. */
function stop(
  app: INestApplicationContext,
  signal: string,
  runsHeld: () => number,
  /** What is still batched (spans, counts) goes out before the process ends. */
  flush: () => Promise<unknown>,
): void {
  Logger.log(`${signal}: shutting down`, 'MAWS');
  app
    .close()
    .then(flush)
    .then(
      () => {
        const held = runsHeld();
        if (held > 0) exitHolding(held, 'shutdown ended');
        Logger.log('shut down: every run handed back, every socket closed', 'MAWS');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
}

/**
 * Bounded: past the grace and its margin the process exits whatever Redis does, 0 if no run
 * was still held, 1 if one was.
 */
function boundShutdown(runsHeld: () => number, graceMs: number): void {
  const limitMs = graceMs + SHUTDOWN_MARGIN_MS;
  setTimeout(() => {
    const held = runsHeld();
    if (held > 0) exitHolding(held, `shutdown did not end within ${limitMs} ms`);
    Logger.warn(`shutdown did not end within ${limitMs} ms (Redis did not answer); no run was held: exiting`, 'MAWS');
    process.exit(0);
  }, limitMs);
}

function exitHolding(held: number, what: string): never {
  Logger.error(
    `${what}: ${held} run(s) could not be handed back; another worker takes them over once their locks expire`,
    'MAWS',
  );
  process.exit(1);
}

async function startWorker(
  config: AppConfig,
  nestLogger: PinoNestLogger,
  logger: PinoLogger,
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(AppModule.forRole('worker', config), { logger: nestLogger });
  await app.init();
  // Only here: in role `all` the main thread is the gateway's too.
  const priority = lowerThreadPriority(config.WORKER_RUN_NICE);
  readyLine(logger, `MAWS ready role=worker concurrency=${config.WORKER_CONCURRENCY}; ${priority}`);
  return app;
}

async function startGateway(
  role: Role,
  config: AppConfig,
  nestLogger: PinoNestLogger,
  logger: PinoLogger,
): Promise<INestApplicationContext> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRole(role, config), { logger: nestLogger });
  app.use(accessLogs(logger));
  app.useWebSocketAdapter(
    new MawsWsAdapter(app, {
      commands: app.get(MawsGateway),
      tokens: app.get(TokenService),
      hub: app.get(SessionHub),
      maxFrameBytes: config.MAX_FRAME_BYTES,
      maxInputChars: config.MAX_INPUT_CHARS,
      allowedOrigins: config.ALLOWED_ORIGINS?.split(',')
        .map((o) => o.trim().replace(/\/$/, ''))
        .filter(Boolean),
      maxSockets: config.MAX_SOCKETS,
      maxSocketsPerUser: config.MAX_SOCKETS_PER_USER,
      messagesPerSecond: config.MESSAGES_PER_SECOND,
      messageBurst: config.MESSAGE_BURST,
      floodCloseAfter: config.FLOOD_CLOSE_AFTER,
    }),
  );
  // An AG-UI RunAgentInput carries the whole thread (reports included): more than express's 100 kB.
  app.useBodyParser('json', { limit: MAX_JSON_BODY });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidUnknownValues: true }));
  app.disable('x-powered-by');
  const publicDir = join(__dirname, '..', 'public');
  // Before the static files: the page and everything it loads get the security headers.
  app.use(pageSecurityHeaders(join(publicDir, 'index.html'), BULL_BOARD_PATH));
  app.useStaticAssets(publicDir, { index: 'index.html' });
  // @maws/client for the page (and any browser app): the module `npm run build` bundles.
  app.useStaticAssets(join(__dirname, '..', 'packages', 'client', 'dist'), { prefix: '/sdk/' });
  app.useStaticAssets(join(__dirname, '..', 'node_modules', 'marked', 'lib'), { prefix: '/vendor/' });
  app.useStaticAssets(join(__dirname, '..', 'node_modules', 'dompurify', 'dist'), { prefix: '/vendor/' });
  // The dashboard answers 401 without credentials in every configuration; with none
  // configured there is no password that opens it.
  const queues = Object.values(app.get(JobProducer).queues);
  app.use(BULL_BOARD_PATH, ...bullBoardRouter(queues, config.ADMIN_USER, config.ADMIN_PASSWORD));
  await app.listen(config.PORT, config.HOST);
  const url = `http://${config.HOST}:${config.PORT}`;
  readyLine(logger, `MAWS ready role=${role} url=${url}`);
  return app;
}

/** MAWS's version, as its package.json (beside dist/) says. */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The line that says the process is up: written whatever LOG_LEVEL is (supervisors and tests wait for it). */
function readyLine(logger: PinoLogger, message: string): void {
  logger.child({}, { level: 'info' }).info(message);
}

main().catch((err: unknown) => {
  console.error(redact(err instanceof Error ? (err.stack ?? err.message) : String(err)));
  process.exit(1);
});
