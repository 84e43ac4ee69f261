import { Logger } from '@nestjs/common';
import type { LineLevel } from './error-log';

/**
 * A line of the lower layers' (see error-log) written through Nest's logger. Its own file,
 * since the code that produces these lines is unit-tested without Nest.
 */
export function logAt(level: LineLevel, message: string, context: string): void {
  if (level === 'error') Logger.error(message, undefined, context);
  else if (level === 'warn') Logger.warn(message, context);
  else Logger.log(message, context);
}
