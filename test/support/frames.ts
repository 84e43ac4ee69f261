/**
 * Test support: typed views of the frames a client receives (`ServerFrame`, from the wire
 * contract in src/contract, by `import type` only): which event a frame is, its seq, its
 * runId, and the terminal events of a run.
 */
import type { AnyDurableFrame, DurableEventName, FrameOf, ServerEventName, ServerFrame } from '../../src/contract';

/** The events that end a run. */
export const TERMINAL = ['run.completed', 'run.failed', 'run.cancelled'] as const satisfies readonly DurableEventName[];
export type TerminalEvent = (typeof TERMINAL)[number];

/** Whether `f` is a frame of `event` (or of one of several events); narrows it. */
export function isEvent<E extends ServerEventName>(f: unknown, event: E | readonly E[]): f is FrameOf<E> {
  if (typeof f !== 'object' || f === null || !('event' in f)) return false;
  return typeof event === 'string' ? f.event === event : (event as readonly unknown[]).includes(f.event);
}

/** Whether `f` is durable: it has a numeric `seq` (replies have none). */
export function isDurable(f: unknown): f is AnyDurableFrame {
  return typeof f === 'object' && f !== null && typeof (f as { seq?: unknown }).seq === 'number';
}

/**
 * Asserts that `f` is a frame of `event` and returns it as one (a failure names the event
 * and shows the frame).
 */
export function expectEvent<E extends ServerEventName>(f: ServerFrame, event: E): FrameOf<E> {
  if (!isEvent(f, event)) throw new Error(`expected a ${event} frame, got ${JSON.stringify(f)}`);
  return f;
}

/** The runId in a frame's data, when it has one (run events, session.state, ack, snapshot). */
export function runIdOf(f: ServerFrame): string | undefined {
  const data: unknown = f.data;
  if (typeof data !== 'object' || data === null || !('runId' in data)) return undefined;
  return typeof data.runId === 'string' ? data.runId : undefined;
}

/** The seqs of the durable frames, in arrival order. */
export function seqs(frames: readonly ServerFrame[]): number[] {
  return frames.filter(isDurable).map((f) => f.seq);
}

/** from, from+1, ..., to. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}
