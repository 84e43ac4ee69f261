import { sleep, withTimeout } from '../common/abort';
import type { AgentName } from '../contract';
import { durable } from '../events/frames';
import { RunCheckpoint } from '../store/run-record';
import type { RunEventWriter } from '../events/run-event-writer';
import type { ModelProvider, ModelRequest, ModelUsage } from '../llm/model-provider';
import { ModelStreamCutError } from '../llm/model-provider';

export interface StepSpec {
  stepId: string;
  agent: AgentName;
  title: string;
  /** How many times this step was started before (from the checkpoint, or a repair). */
  previousAttempts: number;
  request: ModelRequest;
}

export interface StepText {
  text: string;
  usage: ModelUsage;
  /** The attempt number the text came from (a restart or a repair continues from it). */
  attempt: number;
}

/** How often one step is restarted in place after its model stream broke off mid-answer. */
export const MAX_STREAM_RESTARTS = 2;
/** Pause before the n-th restart: n × this. */
const RESTART_DELAY_MS = 500;

/**
 * Runs one agent step's model call: announces it with its attempt number, streams the
 * model's text as deltas, and returns the whole text. The caller finishes the step, so
 * that the output and its checkpoint are stored in one append.
 *
 * A stream that breaks off mid-answer is retried here, in the worker, as the contract's
 * restarted step: `agent.started` again with the same stepId and `attempt` raised by one,
 * so clients drop the deltas they had. Each call has its own MODEL_TIMEOUT_MS.
 */
export class StepRunner {
  constructor(
    private readonly model: ModelProvider,
    private readonly modelTimeoutMs: number,
  ) {}

  async run(runId: string, writer: RunEventWriter, step: StepSpec, signal: AbortSignal): Promise<StepText> {
    let attempt = step.previousAttempts + 1;
    for (let restarts = 0; ; restarts++) {
      this.announce(runId, writer, step, attempt);
      try {
        const result = await this.call(writer, step, attempt, signal);
        return { ...result, attempt };
      } catch (err) {
        if (signal.aborted) throw reasonOf(signal);
        if (!(err instanceof ModelStreamCutError) || restarts >= MAX_STREAM_RESTARTS) throw err;
      }
      await sleep(RESTART_DELAY_MS * (restarts + 1), signal);
      attempt += 1;
    }
  }

  /** Queued, not awaited: the model call starts at once and its deltas follow in order. */
  private announce(runId: string, writer: RunEventWriter, step: StepSpec, attempt: number): void {
    writer.write(
      [durable('agent.started', { runId, agent: step.agent, stepId: step.stepId, attempt, title: step.title })],
      RunCheckpoint.stepStarted(step, attempt),
    );
  }

  private async call(
    writer: RunEventWriter,
    step: StepSpec,
    attempt: number,
    signal: AbortSignal,
  ): Promise<{ text: string; usage: ModelUsage }> {
    const call = withTimeout(signal, this.modelTimeoutMs);
    try {
      const stream = this.model.stream(step.request, call.signal);
      let text = '';
      for await (const chunk of stream.chunks) {
        if (signal.aborted) break;
        text += chunk;
        writer.delta(step.agent, step.stepId, attempt, chunk);
      }
      if (signal.aborted) throw reasonOf(signal);
      return { text, usage: await stream.usage() };
    } finally {
      call.clear();
    }
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
