import type { DurableEventMap, DurableEventName, ReplyEventMap, ReplyEventName } from '../contract';

/** A durable event on its way to the log, before Redis numbers it. */
export interface PendingEvent<E extends DurableEventName = DurableEventName> {
  event: E;
  data: DurableEventMap[E];
}

export function durable<E extends DurableEventName>(event: E, data: DurableEventMap[E]): PendingEvent<E> {
  return { event, data };
}

/**
 * The tail of a durable frame, everything after `{"seq":N,`. The seq is only known inside
 * Redis, where the append script puts it in front, so the final bytes are built once and
 * the gateway forwards them untouched.
 */
export function frameTail(e: PendingEvent, ts = new Date()): string {
  return `"event":${JSON.stringify(e.event)},"data":${JSON.stringify(e.data)},"ts":"${ts.toISOString()}"}`;
}

export function replyFrame<E extends ReplyEventName>(event: E, data: ReplyEventMap[E]): string {
  return JSON.stringify({ event, data, ts: new Date().toISOString() });
}

/**
 * Reads N from a frame built by the append script, which always starts `{"seq":N,`,
 * without parsing the frame: the relay only needs the number. Text and bytes alike.
 */
export function seqOfFrame(frame: string | Buffer): number {
  let n = 0;
  if (typeof frame === 'string') {
    for (let i = 7; i < frame.length; i++) {
      const c = frame.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
  } else {
    for (let i = 7; i < frame.length; i++) {
      const c = frame[i];
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
  }
  return n;
}
