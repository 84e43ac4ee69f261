import { ROOT_CONTEXT, trace, TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';

/** A span context as W3C's `traceparent` writes it: `00-<trace id>-<span id>-<flags>`. */
export function traceParentOf(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-0${span.traceFlags & TraceFlags.SAMPLED}`;
}

const TRACE_PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/;

/** The span context a stored `traceparent` names (remote: it was another process's), or undefined. */
export function spanContextOf(traceParent: string | null | undefined): SpanContext | undefined {
  const match = traceParent ? TRACE_PARENT.exec(traceParent) : null;
  if (!match) return undefined;
  return { traceId: match[1], spanId: match[2], traceFlags: Number(match[3]), isRemote: true };
}

/** A context whose parent span is `span` (for a span started under another process's). */
export function contextUnder(span: SpanContext): Context {
  return trace.setSpanContext(ROOT_CONTEXT, span);
}
