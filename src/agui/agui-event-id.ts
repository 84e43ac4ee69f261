/**
 * v2 "AG-UI": an SSE event's `id:` names where it comes from in the session's history: the
 * durable event's seq, with a sub-index from 1 where one durable event becomes several AG-UI
 * events (`42`, or `42.1`, `42.2`, …). A reader that sends one back as `Last-Event-ID` gets
 * what follows it.
 */
export interface AguiEventId {
  seq: number;
  /** 0 when the durable event became one AG-UI event, else 1, 2, …. */
  sub: number;
}

const EVENT_ID = /^(\d{1,15})(?:\.(\d{1,6}))?$/;

export function formatEventId(seq: number, index: number, count: number): string {
  return count === 1 ? String(seq) : `${seq}.${index + 1}`;
}

/**
 * A `Last-Event-ID` as a position to continue after; undefined when it is not one. A bare seq
 * stands for everything of that durable event (the WebSocket's seq: "I have seen seq 42").
 */
export function parseEventId(raw: string): AguiEventId | undefined {
  const match = EVENT_ID.exec(raw.trim());
  if (!match) return undefined;
  const seq = Number(match[1]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { seq, sub: match[2] === undefined ? Number.POSITIVE_INFINITY : Number(match[2]) };
}

/** Whether the event `seq`/`index` of `count` comes after `cursor`. */
export function isAfter(cursor: AguiEventId, seq: number, index: number, count: number): boolean {
  if (seq !== cursor.seq) return seq > cursor.seq;
  return (count === 1 ? 0 : index + 1) > cursor.sub;
}
