import { BeforeApplicationShutdown, Body, Controller, Get, Headers, Inject, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { bearerSub, sessionIdParam } from '../auth/bearer';
import { TokenService } from '../auth/token-service';
import { ThrottledErrorLog } from '../common/error-log';
import { AppConfig } from '../config/config';
import { EventLog } from '../events/event-log';
import { sessionKeyOf } from '../store/redis-keys';
import { StoreWrites } from '../store/store-writes';
import { REFUSAL_MEANING } from '../store/write-refusal';
import { parseEventId } from './agui-event-id';
import { AguiHttpError, httpErrorOf } from './agui-http-error';
import { aguiRequestOf } from './agui-input';
import { AguiRuns } from './agui-runs';
import { AguiStream, type StreamStart } from './agui-stream';
import { SessionWakeups } from './session-wakeups';
import { SseResponse } from './sse-response';

/**
 * v2 "AG-UI": each session is an AG-UI agent (threadId = sessionId), for AG-UI clients such as
 * @ag-ui/client's HttpAgent and CopilotKit. Everything wrong is answered (401/400/404/409)
 * before any stream; the stream is the projection of the session's log (AguiStream).
 */
@Controller('agui')
export class AguiController implements BeforeApplicationShutdown {
  private readonly streams = new Set<AbortController>();
  private readonly streamErrors = new ThrottledErrorLog('AG-UI', 'an AG-UI stream ended on an error');

  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(AguiRuns) private readonly runs: AguiRuns,
    @Inject(EventLog) private readonly log: EventLog,
    @Inject(SessionWakeups) private readonly wakeups: SessionWakeups,
    @Inject(StoreWrites) private readonly writes: StoreWrites,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  /** `RunAgentInput`: a task or refinement from the last user message, or `resume` answers. */
  @Post(':sessionId')
  async run(
    @Param('sessionId') id: string,
    @Body() body: unknown,
    @Res() res: Response,
    @Headers('authorization') authorization?: string,
  ): Promise<void> {
    const sub = await bearerSub(this.tokens, authorization);
    const sessionId = sessionIdParam(id);
    const request = aguiRequestOf(body, sessionId, this.config.MAX_INPUT_CHARS);
    const sessionKey = sessionKeyOf(sub, sessionId);
    let start: StreamStart;
    try {
      start = await this.runs.carryOut(sessionKey, request);
    } catch (err) {
      throw this.refused(err);
    }
    await this.stream(sessionKey, sessionId, start, res);
  }

  /** Continues right after `Last-Event-ID`; without one, the session's latest AG-UI run from its start. */
  @Get(':sessionId/connect')
  async connect(
    @Param('sessionId') id: string,
    @Res() res: Response,
    @Headers('authorization') authorization?: string,
    @Headers('last-event-id') lastEventId?: string,
  ): Promise<void> {
    const sub = await bearerSub(this.tokens, authorization);
    const sessionId = sessionIdParam(id);
    const cursor = lastEventId === undefined ? undefined : parseEventId(lastEventId);
    if (lastEventId !== undefined && !cursor) {
      throw new AguiHttpError(
        400,
        'VALIDATION_FAILED',
        'Last-Event-ID must be an event id of this stream (42 or 42.1)',
      );
    }
    const sessionKey = sessionKeyOf(sub, sessionId);
    if ((await this.log.snapshot(sessionKey)).lastSeq === 0) {
      throw new AguiHttpError(404, 'VALIDATION_FAILED', 'no such session');
    }
    await this.stream(sessionKey, sessionId, cursor ? { from: 'after', cursor } : { from: 'latest' }, res);
  }

  /** Open streams end (the client reconnects elsewhere with Last-Event-ID) before the server stops. */
  beforeApplicationShutdown(): void {
    for (const stream of this.streams) stream.abort();
  }

  private async stream(sessionKey: string, threadId: string, start: StreamStart, res: Response): Promise<void> {
    const sink = new SseResponse(res);
    const stop = new AbortController();
    this.streams.add(stop);
    res.on('close', () => stop.abort());
    try {
      await new AguiStream(this.log, this.wakeups, sessionKey, threadId, start, sink).run(stop.signal);
    } catch (err) {
      // Headers are out: the stream just ends, and the client continues from its last id.
      this.streamErrors.report(err);
    } finally {
      this.streams.delete(stop);
      sink.end();
    }
  }

  /** A command's refusal as an HTTP answer; a store refusing writes is 503 UNAVAILABLE. */
  private refused(err: unknown): unknown {
    const refusal = this.writes.noteError(err);
    if (refusal) {
      return new AguiHttpError(503, 'UNAVAILABLE', `${REFUSAL_MEANING[refusal]}: nothing was done; try again shortly`);
    }
    return httpErrorOf(err);
  }
}
