import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SamplingDecision,
  type Sampler,
  type SamplingResult,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TraceExport } from '../config/config';

/** What this process's tracing is: off (no provider exists), or exporting. */
interface TracingState {
  provider: NodeTracerProvider;
  recordContent: boolean;
}

let state: TracingState | undefined;

/** True once startTracing has set up an exporter: every span helper checks it first, so off costs nothing. */
export function tracingActive(): boolean {
  return state !== undefined;
}

/** Prompts, model output and tool inputs and outputs go on spans (MAWS_TRACE_CONTENT=true). */
export function traceContentRecorded(): boolean {
  return state?.recordContent ?? false;
}

/**
 * Registers the process's tracer provider (with AsyncLocalStorage context and W3C trace
 * context) when an exporter is asked for; otherwise does nothing, and OpenTelemetry's API
 * stays a no-op. Returns how traces go out, for the ready line.
 */
export function startTracing(
  exportTo: TraceExport,
  opts: { serviceName?: string; role: string; version: string; recordContent: boolean },
): string {
  if (exportTo.kind === 'none') return 'tracing off';
  const exporter: SpanExporter =
    exportTo.kind === 'otlp' ? new OTLPTraceExporter({ url: exportTo.url }) : new ConsoleSpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName ?? 'maws',
      [ATTR_SERVICE_VERSION]: opts.version,
      'maws.role': opts.role,
      'process.pid': process.pid,
    }),
    // Batched: a span costs the request path a push onto a queue, never a network call.
    spanProcessors: [new BatchSpanProcessor(exporter)],
    sampler: new ParentBasedSampler({ root: new WorkNotHousekeeping() }),
  });
  provider.register();
  state = { provider, recordContent: opts.recordContent };
  const where = exportTo.kind === 'otlp' ? `OTLP/HTTP to ${exportTo.url}` : 'the console';
  return `tracing to ${where}${opts.recordContent ? ' (with prompts and output)' : ''}`;
}

/** Sends what is still batched (on shutdown), within `timeoutMs`. */
export async function stopTracing(timeoutMs: number): Promise<void> {
  if (!state) return;
  const { provider } = state;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    provider.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

/** BullMQ's own housekeeping (polling for jobs, stalled-job checks): a root span every few seconds, about no run. */
const HOUSEKEEPING = /^(getNextJob|moveStalledJobsToWait|startStalledCheckTimer|rateLimit|pause|resume|close)\b/;

/** Every trace a command, a job or a run starts is kept; BullMQ's housekeeping starts none. */
class WorkNotHousekeeping implements Sampler {
  shouldSample(
    _context: Context,
    _traceId: string,
    name: string,
    _kind: SpanKind,
    _attributes: Attributes,
    _links: Link[],
  ): SamplingResult {
    return { decision: HOUSEKEEPING.test(name) ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED };
  }

  toString(): string {
    return 'WorkNotHousekeeping';
  }
}
