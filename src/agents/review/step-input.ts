import type { InputKind } from '../../contract';
import { durable } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import { RunCheckpoint, type RunRecord, type StoredInputRequest } from '../../store/run-record';
import { ParkRunError } from './park-run-error';
import { requestIdOf } from './request-id';
import { workCounters } from '../../ops/work-counters';

/** A tool call that asks the person: its id, its key (the tool and its input), and what it asks for. */
export interface AskingCall {
  toolCallId: string;
  key: string;
  tool: string;
  input: unknown;
}

/**
 * The person's side of one executor step's tool calls (v2 "People in the loop"): the answers
 * its earlier attempts' requests got (a question's text, a tool's approval), found by the
 * call's key when the step is replayed; and, for a call with no answer yet, the request
 * opened and the step stopped (`park` aborts the model call with ParkRunError), so the run
 * parks until the answer comes.
 */
export class StepInput {
  constructor(
    private readonly run: Pick<RunRecord, 'runId' | 'requests' | 'answers' | 'inputRequests'>,
    private readonly stepId: string,
    private readonly writer: RunEventWriter,
    private readonly ttlSeconds: number,
    private readonly park: AbortController,
  ) {}

  /** The answer to a request of `kind` that a call with this key of this step opened before, if answered. */
  answered(kind: InputKind, key: string): unknown {
    for (const request of Object.values(this.run.requests)) {
      if (request.kind !== kind || request.callKey !== key || request.stepId !== this.stepId) continue;
      if (request.requestId in this.run.answers) return this.run.answers[request.requestId];
    }
    return undefined;
  }

  /** Opens the request, stores it, and stops the step: the run parks until the answer. */
  async ask(kind: 'question' | 'tool_approval', prompt: string, call: AskingCall): Promise<never> {
    const n = this.run.inputRequests + 1;
    const requestId = requestIdOf(this.run.runId, n);
    const until = Date.now() + this.ttlSeconds * 1000;
    const wire = {
      requestId,
      kind,
      prompt,
      ...(kind === 'tool_approval' ? { toolCall: { tool: call.tool, input: call.input } } : {}),
      toolCallId: call.toolCallId,
      expiresAt: new Date(until).toISOString(),
    };
    const stored: StoredInputRequest = { ...wire, callKey: call.key, stepId: this.stepId };
    this.writer.write(
      [durable('run.input_requested', { runId: this.run.runId, ...wire })],
      RunCheckpoint.inputRequested(stored, n),
    );
    workCounters().inputAsked(kind);
    await this.writer.drain();
    const parked = new ParkRunError(requestId, until);
    this.park.abort(parked);
    throw parked;
  }
}
