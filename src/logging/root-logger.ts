import { createRequire } from 'node:module';
import { trace, type Span } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';
import { currentLogContext } from './log-context';

/** `json`: one JSON object per line (the default, for machines); `pretty`: for people (pino-pretty). */
export type LogFormat = 'json' | 'pretty';

/** LOG_LEVEL takes Nest's names; pino's for them. */
const PINO_LEVEL: Record<string, string> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Fields that may hold what must never be logged (user text, prompts, model output, tokens,
 * keys, passwords), wherever a line's object carries them: censored by pino itself.
 */
export const REDACTED_PATHS = [
  'token',
  'authorization',
  'password',
  'apiKey',
  'text',
  'prompt',
  'input',
  'output',
  'report',
  'answer',
  '*.token',
  '*.authorization',
  '*.password',
  '*.apiKey',
  '*.text',
  '*.prompt',
  '*.input',
  '*.output',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export class LogFormatUnavailableError extends Error {}

/**
 * The process's logger: every line carries `level`, `time`, `role`, `pid`, and the log
 * context of the code that logged it (run, session, step, agent, attempt).
 */
export function createRootLogger(
  opts: { level: string; format: LogFormat; role: string },
  /** Where JSON lines go (default: stdout, synchronously). */
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level: PINO_LEVEL[opts.level] ?? 'info',
    base: { role: opts.role, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => ({ ...currentLogContext(), ...traceFieldsOf(trace.getActiveSpan()) }),
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (opts.format === 'pretty') {
    if (!prettyInstalled()) {
      throw new LogFormatUnavailableError(
        'LOG_FORMAT=pretty needs the pino-pretty package (a development dependency: npm install pino-pretty), or use LOG_FORMAT=json',
      );
    }
    return pino(options, pino.transport({ target: 'pino-pretty', options: { colorize: true, sync: true } }));
  }
  // Synchronous: a line is out before the process can die (a crash, process.exit on shutdown).
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}

function prettyInstalled(): boolean {
  try {
    createRequire(__filename).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * A line logged inside a recorded span names its trace and span (with tracing off there is
 * none: OpenTelemetry's API answers undefined at once).
 */
function traceFieldsOf(span: Span | undefined): { trace_id?: string; span_id?: string } {
  if (!span?.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
