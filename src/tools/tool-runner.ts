import { SpanStatusCode } from '@opentelemetry/api';
import { abortError } from '../common/abort';
import { inSpan } from '../tracing/spans';
import { traceContentRecorded } from '../tracing/tracing';
import { ToolError, type ToolDefinition, type ToolErrorCode } from './tool';

export interface ToolRunOptions {
  /** The run's signal: when it aborts (a cancel, the run lost), the call is abandoned and that abort is thrown. */
  signal: AbortSignal;
  /** For a tool without its own `timeoutMs`. */
  timeoutMs: number;
  /** Longer output is cut to this many characters and marked `truncated`. */
  maxOutputChars: number;
}

/** What one call gave, as its `tool.result` carries it. */
export interface ToolOutcome {
  ok: boolean;
  output?: unknown;
  error?: { code: ToolErrorCode; message: string };
  /** How long the call took. */
  ms: number;
  /** The output was longer than the cap and was cut. */
  truncated?: boolean;
}

/**
 * Runs one tool call and turns whatever happens into an outcome for the model: input that
 * does not match the tool's schema (TOOL_INVALID_INPUT), a call past its time
 * (TOOL_TIMEOUT), a tool that throws (its ToolError's code, else TOOL_FAILED), output past
 * the cap (cut, `truncated`). Only the run's own abort is thrown: the run is stopping, and no
 * result of it is written.
 */
export async function runTool(tool: ToolDefinition, rawInput: unknown, options: ToolRunOptions): Promise<ToolOutcome> {
  // The call's span (v2 "Observability"): its tool, outcome and time; input and output only
  // with MAWS_TRACE_CONTENT=true.
  return inSpan(`maws.tool ${tool.name}`, { attributes: { 'maws.tool': tool.name } }, async (span) => {
    if (span && traceContentRecorded()) span.setAttribute('maws.tool.input', contentOf(rawInput));
    const outcome = await runToolCall(tool, rawInput, options);
    if (span) {
      span.setAttributes({ 'maws.tool.outcome': outcome.error?.code ?? 'ok', 'maws.tool.ms': outcome.ms });
      if (outcome.error) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.code });
      if (traceContentRecorded() && outcome.ok) span.setAttribute('maws.tool.output', contentOf(outcome.output));
    }
    return outcome;
  });
}

async function runToolCall(tool: ToolDefinition, rawInput: unknown, options: ToolRunOptions): Promise<ToolOutcome> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const parsed = tool.input.safeParse(rawInput);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return failed('TOOL_INVALID_INPUT', `the input does not match ${tool.name}'s schema (${why})`, elapsed());
  }
  const timeoutMs = tool.timeoutMs ?? options.timeoutMs;
  const call = new AbortController();
  const timer = setTimeout(
    () => call.abort(new ToolError('TOOL_TIMEOUT', `${tool.name} took longer than ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onRunAbort = (): void => call.abort(options.signal.reason);
  if (options.signal.aborted) onRunAbort();
  else options.signal.addEventListener('abort', onRunAbort, { once: true });
  try {
    // A tool that ignores its signal still ends the call at the deadline.
    const output = await Promise.race([tool.run(parsed.data, call.signal), rejectOnAbort(call.signal)]);
    return { ok: true, ...capped(output, options.maxOutputChars), ms: elapsed() };
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason;
    if (err instanceof ToolError) return failed(err.code, err.message, elapsed());
    return failed('TOOL_FAILED', `${tool.name} failed: ${err instanceof Error ? err.message : String(err)}`, elapsed());
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onRunAbort);
  }
}

function failed(code: ToolErrorCode, message: string, ms: number): ToolOutcome {
  return { ok: false, error: { code, message }, ms };
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const abort = (): void => reject(abortError(signal));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

/**
 * Output as the event carries it: a string as is, anything else as JSON, each cut to
 * `max` characters (JSON that is cut becomes its text, marked `truncated`).
 */
function capped(output: unknown, max: number): { output: unknown; truncated?: true } {
  if (typeof output === 'string') {
    return output.length > max ? { output: output.slice(0, max), truncated: true } : { output };
  }
  const json = JSON.stringify(output ?? null);
  return json.length > max ? { output: json.slice(0, max), truncated: true } : { output: output ?? null };
}

/** What a span may show of a tool's input or output (with MAWS_TRACE_CONTENT=true): JSON, cut at 4 KB. */
function contentOf(value: unknown): string {
  const json = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return json.length > 4096 ? `${json.slice(0, 4096)}…` : json;
}
