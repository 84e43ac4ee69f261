import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

/**
 * Nest's LoggerService over pino: Nest's own lines and every `Logger.log(message, context)`
 * become JSON lines with a `context` field. (`nestjs-pino` needs Node 22.12; this is the part
 * of it MAWS needs.)
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    // Nest's error(message, stack?, context?).
    const context = lastString(params);
    const stack = params.length >= 2 && typeof params[0] === 'string' ? params[0] : undefined;
    this.logger.error({ ...(context ? { context } : {}), ...(stack ? { stack } : {}) }, textOf(message));
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: 'info' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, params: unknown[]): void {
    const context = lastString(params);
    this.logger[level](context ? { context } : {}, textOf(message));
  }
}

function lastString(params: unknown[]): string | undefined {
  const last = params.at(-1);
  return typeof last === 'string' ? last : undefined;
}

function textOf(message: unknown): string {
  if (typeof message === 'string') return message;
  if (message instanceof Error) return message.stack ?? message.message;
  return JSON.stringify(message);
}
