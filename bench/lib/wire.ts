/**
 * MAWS's wire as the bench's clients speak it, typed by the contract in src/contract: the
 * frames they receive and the commands they send, so that a misspelt event name, error code
 * or field is a compile error. Types only (`import type`): nothing of MAWS is loaded here.
 */
import type {
  AnyDurableFrame,
  ClientCommandMap,
  ClientCommandName,
  ClientFrame,
  ServerFrame,
} from '../../src/contract';

export type { ServerFrame } from '../../src/contract';

/** Names drawn from the contract's commands: `Commands<'task.strat'>` does not compile. */
export type Commands<C extends ClientCommandName> = C;

/** The commands that start a run, each with `{text}`. */
export type RunCommandName = Commands<'message' | 'task.start' | 'task.refine'>;

/** A client frame's text: `{event, data, id?}`, its data the command's own shape. */
export function command<C extends ClientCommandName>(event: C, data: ClientCommandMap[C], id?: string): string {
  return JSON.stringify({ event, data, id } satisfies ClientFrame<C>);
}

/** A parsed server frame: durable ones carry a seq, replies none. */
export function isDurable(frame: ServerFrame): frame is AnyDurableFrame {
  return typeof (frame as { seq?: unknown }).seq === 'number';
}
