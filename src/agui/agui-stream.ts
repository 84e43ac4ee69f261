import { EventType, type AGUIEvent } from '@ag-ui/core';
import type { AnyDurableFrame } from '../contract';
import type { EventLog } from '../events/event-log';
import { formatEventId, isAfter, type AguiEventId } from './agui-event-id';
import { AguiProjector } from './agui-projector';
import type { SessionWakeups } from './session-wakeups';

/** Where a stream begins: at an AG-UI run's start, or right after an event id, or the latest run. */
export type StreamStart =
  | { from: 'run'; runId: string }
  | { from: 'answer'; requestId: string }
  | { from: 'after'; cursor: AguiEventId }
  | { from: 'latest' };

/** Where the events go: an SSE response (see SseResponse). */
export interface EventSink {
  /** Sends a batch of `id:`/`data:` events; resolves when the transport can take more. */
  send(chunk: string): Promise<void>;
  readonly closed: boolean;
}

/** Frames read from the log at a time. */
const READ_BATCH = 500;
/** A comment line this often keeps proxies from closing a quiet stream. */
export const KEEPALIVE_MS = 15_000;

/**
 * One AG-UI stream of a session: the projection of its log from `start` to the end of the
 * AG-UI run it is in (RUN_FINISHED or RUN_ERROR), live while that run goes. The whole log is
 * projected from its beginning every time, so every stream of a history names the same events
 * with the same ids, whichever gateway serves it and wherever it was cut.
 */
export class AguiStream {
  private readonly projector: AguiProjector;
  private readSeq = 0;
  private emitting: boolean;
  /** 'latest': the newest AG-UI run's events so far, sent once the log has been read. */
  private latest: string[] | undefined;
  private dirty = false;
  private deleted = false;
  private wake?: () => void;

  constructor(
    private readonly log: EventLog,
    private readonly wakeups: SessionWakeups,
    private readonly sessionKey: string,
    threadId: string,
    private readonly start: StreamStart,
    private readonly sink: EventSink,
  ) {
    this.projector = new AguiProjector(threadId);
    this.emitting = false;
    if (start.from === 'latest') this.latest = [];
  }

  /** Streams until the AG-UI run ends, the client goes, the session is deleted or `stop` fires. */
  async run(stop: AbortSignal): Promise<void> {
    const onStop = (): void => this.wake?.();
    stop.addEventListener('abort', onStop);
    const unwatch = await this.wakeups.watch(this.log.channel(this.sessionKey), (deleted) => {
      this.dirty = true;
      this.deleted ||= deleted;
      this.wake?.();
    });
    try {
      while (!stop.aborted && !this.sink.closed && !this.deleted) {
        this.dirty = false;
        const { frames } = await this.log.readAfter(this.sessionKey, this.readSeq, READ_BATCH);
        const { chunk, ended } = this.project(frames);
        if (chunk) await this.sink.send(chunk);
        if (ended) return;
        if (frames.length === READ_BATCH || this.dirty) continue;
        // Read to the end of the log.
        if (this.latest) {
          const { chunk: held, ended: heldEnded } = this.releaseLatest();
          if (held) await this.sink.send(held);
          if (heldEnded) return;
        }
        // Nothing to continue (no AG-UI run going): the stream is complete.
        if (!this.projector.running && (this.emitting || this.start.from === 'after')) return;
        if (!this.emitting && this.start.from !== 'after') return;
        await this.nextWakeup(stop);
      }
    } finally {
      stop.removeEventListener('abort', onStop);
      await unwatch();
    }
  }

  /** The SSE text of `frames`' AG-UI events that this stream sends, and whether its run ended. */
  private project(frames: string[]): { chunk: string; ended: boolean } {
    let chunk = '';
    for (const raw of frames) {
      const frame = JSON.parse(raw) as AnyDurableFrame;
      this.readSeq = frame.seq;
      const events = this.projector.project(frame);
      if (!this.emitting && this.startsHere(frame)) this.emitting = true;
      for (let i = 0; i < events.length; i++) {
        const text = sseEvent(formatEventId(frame.seq, i, events.length), events[i]);
        if (this.latest) {
          if (events[i].type === EventType.RUN_STARTED) this.latest = [];
          this.latest.push(text);
          continue;
        }
        const send =
          this.start.from === 'after' ? isAfter(this.start.cursor, frame.seq, i, events.length) : this.emitting;
        if (!send) continue;
        chunk += text;
        if (isRunEnd(events[i])) return { chunk, ended: true };
      }
    }
    return { chunk, ended: false };
  }

  /** 'latest': sends the newest AG-UI run so far and goes on live from there. */
  private releaseLatest(): { chunk: string; ended: boolean } {
    const held = this.latest ?? [];
    this.latest = undefined;
    this.emitting = held.length > 0;
    return { chunk: held.join(''), ended: held.length > 0 && !this.projector.running };
  }

  private startsHere(frame: AnyDurableFrame): boolean {
    switch (this.start.from) {
      case 'run':
        return frame.event === 'run.queued' && frame.data.runId === this.start.runId;
      case 'answer':
        return frame.event === 'run.input_resolved' && frame.data.requestId === this.start.requestId;
      case 'after':
      case 'latest':
        return false;
    }
  }

  /** Waits for news on the session's channel; a keepalive comment every KEEPALIVE_MS meanwhile. */
  private async nextWakeup(stop: AbortSignal): Promise<void> {
    while (!this.dirty && !this.deleted && !stop.aborted && !this.sink.closed) {
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), KEEPALIVE_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      if (!woke) await this.sink.send(': keepalive\n\n');
    }
  }
}

/** One SSE event: its id, and the event as JSON on one `data:` line (LF only, as AG-UI's parser splits). */
function sseEvent(id: string, event: AGUIEvent): string {
  return `id: ${id}\ndata: ${JSON.stringify(event)}\n\n`;
}

function isRunEnd(event: AGUIEvent): boolean {
  return event.type === EventType.RUN_FINISHED || event.type === EventType.RUN_ERROR;
}
