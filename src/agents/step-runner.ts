import type { AgentName } from '../events/event-types';
import { durable } from '../events/event-types';
import type { RunEventWriter } from '../events/run-event-writer';
import type { ModelProvider, ModelRequest, ModelUsage } from '../llm/model-provider';

export interface StepSpec {
  stepId: string;
  agent: AgentName;
  title: string;
  /** How many times this step was started before (from the checkpoint). */
  previousAttempts: number;
  request: ModelRequest;
}

export interface StepText {
  text: string;
  usage: ModelUsage;
}

/**
 * Runs one agent step's model call: announces it with its attempt number, streams the
 * model's text as deltas, and returns the whole text. The caller finishes the step, so
 * that the output and its checkpoint are stored in one append.
 */
export class StepRunner {
  constructor(
    private readonly model: ModelProvider,
    private readonly modelTimeoutMs: number,
  ) {}

  async run(runId: string, writer: RunEventWriter, step: StepSpec, signal: AbortSignal): Promise<StepText> {
    const attempt = step.previousAttempts + 1;
    await writer.emit(
      [durable('agent.started', { runId, agent: step.agent, stepId: step.stepId, attempt, title: step.title })],
      {
        [`attempt:${step.stepId}`]: String(attempt),
        current: step.stepId,
        currentTitle: step.title,
        currentAgent: step.agent,
      },
    );
    const callSignal = AbortSignal.any([signal, AbortSignal.timeout(this.modelTimeoutMs)]);
    const stream = this.model.stream(step.request, callSignal);
    let text = '';
    for await (const chunk of stream.chunks) {
      if (signal.aborted) break;
      text += chunk;
      writer.delta(step.agent, step.stepId, chunk);
    }
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    return { text, usage: await stream.usage() };
  }
}
