import type { ResumeEntry } from '@ag-ui/core';
import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../tracing/spans';
import type { InputRequest } from '../contract';
import type { EventLog } from '../events/event-log';
import type { SessionCommands } from '../session/session-commands';
import { AguiHttpError } from './agui-http-error';
import type { AguiRequest } from './agui-input';
import type { StreamStart } from './agui-stream';

const SCAN_BATCH = 1000;

/**
 * What an AG-UI POST does to the session, through the same commands as the socket: the person's
 * message starts a task (IDLE) or a refinement (REFINEMENT_READY), never while a run goes (409);
 * resume entries answer or cancel the open input request. Returns where its stream begins.
 */
export class AguiRuns {
  constructor(
    private readonly log: EventLog,
    private readonly commands: SessionCommands,
  ) {}

  /** Under a span of its own, as a socket's command: the root of the activation it starts or wakes. */
  async carryOut(sessionKey: string, request: AguiRequest): Promise<StreamStart> {
    const attributes = { 'maws.command': `agui.${request.kind}`, 'maws.session': sessionKey };
    return inSpan(`maws.agui ${request.kind}`, { kind: SpanKind.SERVER, attributes }, () =>
      this.start(sessionKey, request),
    );
  }

  private async start(sessionKey: string, request: AguiRequest): Promise<StreamStart> {
    const snapshot = await this.log.snapshot(sessionKey);
    if (request.kind === 'message') {
      if (snapshot.state === 'EXECUTING') {
        throw new AguiHttpError(
          409,
          'INVALID_STATE',
          'a run is going in this session: answer its interrupt with resume, or wait for it to end',
        );
      }
      const { runId } =
        snapshot.state === 'REFINEMENT_READY'
          ? await this.commands.refine(sessionKey, request.text)
          : await this.commands.startTask(sessionKey, request.text, request.review);
      return { from: 'run', runId: runId! };
    }
    const open = snapshot.pendingInput;
    const entry = request.entries.find((e) => e.interruptId === open?.requestId);
    if (open && entry) {
      await this.settle(sessionKey, open, entry);
      return { from: 'answer', requestId: open.requestId };
    }
    // Answered before (a retried request): the stream shows what came of it.
    for (const e of request.entries) {
      if (await this.wasResolved(sessionKey, e.interruptId)) return { from: 'answer', requestId: e.interruptId };
    }
    throw new AguiHttpError(400, 'VALIDATION_FAILED', 'no interrupt of that id in this session');
  }

  /** `resolved`: the payload is the answer (as `run.respond` takes it); `cancelled`: the run is cancelled. */
  private async settle(sessionKey: string, open: InputRequest, entry: ResumeEntry): Promise<void> {
    if (entry.status === 'cancelled') {
      await this.commands.cancel(sessionKey);
      return;
    }
    await this.commands.respond(sessionKey, open.requestId, answerOf(open, entry.payload));
  }

  private async wasResolved(sessionKey: string, requestId: string): Promise<boolean> {
    for (let after = 0; ;) {
      const { frames } = await this.log.readAfter(sessionKey, after, SCAN_BATCH);
      for (const raw of frames) {
        // Cheap test first: most frames are not about this request.
        if (!raw.includes(requestId)) continue;
        const frame = JSON.parse(raw) as { event: string; data: { requestId?: string } };
        if (frame.event === 'run.input_resolved' && frame.data.requestId === requestId) return true;
      }
      if (frames.length < SCAN_BATCH) return false;
      after = (JSON.parse(frames[frames.length - 1]) as { seq: number }).seq;
    }
  }
}

/** Shorthands AG-UI front ends send: a question's text as a string, an approval as a boolean. */
function answerOf(request: InputRequest, payload: unknown): unknown {
  if (request.kind === 'question' && typeof payload === 'string') return { text: payload };
  if (request.kind === 'tool_approval' && typeof payload === 'boolean') return { approve: payload };
  return payload;
}
