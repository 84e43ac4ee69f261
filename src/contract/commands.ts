/**
 * The client's side of the wire contract: every command a client can send, by name, with the
 * shape of its data. The gateway's validators implement these shapes; its handler takes the
 * narrowed union, so a command and its data cannot drift apart.
 */

export interface TextCommandData {
  /** 1 to MAX_INPUT_CHARS characters after trimming. */
  text: string;
}

/** `task.start` (v2): `review: "plan"` stops the run after the planner for the person's approval. */
export interface TaskStartCommandData extends TextCommandData {
  review?: 'plan';
}

/** `run.respond` (v2): the answer to an open input request. */
export interface RespondCommandData {
  requestId: string;
  /** plan_review: `{approve: true, plan?}` or `{approve: false, feedback}`. */
  answer: unknown;
}

/** v2 "Steering": instructions one run takes (`run.steer`, and messages read as instructions); past it RATE_LIMITED. */
export const MAX_STEERS_PER_RUN = 20;

/** MAWS's addition: the close code of a socket whose session was deleted (DELETE /sessions/{id}). */
export const SESSION_DELETED_CLOSE = 4404;

export interface ResumeCommandData {
  afterSeq: number;
}

export interface TokenCommandData {
  token: string;
}

export type EmptyCommandData = Record<string, never>;

export interface ClientCommandMap {
  message: TextCommandData;
  'task.start': TaskStartCommandData;
  'task.refine': TextCommandData;
  'chat.send': TextCommandData;
  'task.cancel': EmptyCommandData;
  'run.respond': RespondCommandData;
  /** v2 "Steering": an instruction for the running task, applied at its next step boundary. */
  'run.steer': TextCommandData;
  resume: ResumeCommandData;
  ping: EmptyCommandData;
  /** MAWS's addition: a fresh token for the same user keeps the socket open past the old one's `exp`. */
  'auth.refresh': TokenCommandData;
}
export type ClientCommandName = keyof ClientCommandMap;

/** A client frame: `{event, data, id?}`; `id` comes back as `replyTo` on its ack or error. */
export interface ClientFrame<E extends ClientCommandName = ClientCommandName> {
  event: E;
  data: ClientCommandMap[E];
  id?: string;
}

/** Any validated command, narrowed by its `event`. */
export type ClientCommand = { [E in ClientCommandName]: ClientFrame<E> }[ClientCommandName];
