import {
  context,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanKind,
  type TimeInput,
} from '@opentelemetry/api';
import { tracingActive } from './tracing';

export interface SpanSpec {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** The parent; the active span when not given. */
  parent?: Context;
  /** Starts a new trace (links say where it came from). */
  root?: boolean;
  /** Errors that end the work as expected (a run parked to wait): not marked as failures. */
  expected?: (err: unknown) => boolean;
}

function tracer() {
  return trace.getTracer('maws');
}

/**
 * Runs `fn` inside a new active span (so log lines, child spans and BullMQ's own spans
 * under it know it), ended when `fn` settles; a throw marks it failed with the error's name
 * and code only, since messages may quote user text. With tracing off, `fn` runs as it is.
 */
export async function inSpan<T>(name: string, spec: SpanSpec, fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!tracingActive()) return fn(undefined);
  const { parent, expected, ...options } = spec;
  return tracer().startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (!expected?.(err)) markFailed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A span for something that already happened (a queue wait), from `start` to now. */
export function pastSpan(name: string, start: TimeInput, spec: Omit<SpanSpec, 'expected'>): void {
  if (!tracingActive()) return;
  const { parent, ...options } = spec;
  tracer()
    .startSpan(name, { ...options, startTime: start }, parent ?? context.active())
    .end();
}

/** Marks a span failed, with the error's class and MAWS code, never its message. */
export function markFailed(span: Span, err: unknown): void {
  const type = err instanceof Error ? err.name : typeof err;
  const code = (err as { code?: unknown } | null)?.code;
  span.setAttribute('error.type', typeof code === 'string' ? code : type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : type });
}

/** The active span's trace id, when a span is being recorded. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span.spanContext().traceId : undefined;
}
