/**
 * Fuzz support: the oracle. What answer the contract gives each generated frame (an answer
 * frame, with or without `replyTo`, or a close code), and the check of a batch's answers
 * against its frames.
 */
import type {
  ClientCommandMap,
  ClientCommandName,
  ClientErrorCode,
  ReplyEventName,
  ReplyFrame,
} from '../../../src/contract';
import { MAX_INPUT_CHARS, MAX_SAFE } from './limits';

/** What an answer frame is called here: its error code, or `ack` / `pong`. */
export type AnswerKey = ClientErrorCode | Extract<ReplyEventName, 'ack' | 'pong'>;

/** The frames that answer a client's frame. */
export type AnswerFrame = ReplyFrame<'ack'> | ReplyFrame<'error'> | ReplyFrame<'pong'>;

/** The answers a frame may get: keyed ones carry replyTo = id; unkeyed ones carry none. */
export interface AnswerExpectation {
  kind: 'answer';
  id?: string;
  keyed: AnswerKey[];
  unkeyed: AnswerKey[];
}
export interface CloseExpectation {
  kind: 'close';
  code: number;
}
export type Expectation = AnswerExpectation | CloseExpectation;

/** A frame to send, with the answer it must get. */
export interface FuzzFrame {
  /** Generator that made it (for the figures and for failure messages). */
  label: string;
  payload: string | Buffer;
  binary: boolean;
  /** Sent in this many fragments (1 = one frame). */
  fragments: number;
  expect: Expectation;
}

/** What the oracle needs to know of the connection a frame is sent on. */
export interface OracleCtx {
  /** The connection's own token: an `auth.refresh` with it is acked, any other is refused. */
  token: string;
}

/** The data fields of each command, as the contract defines them. */
const FIELDS: { readonly [E in ClientCommandName]: readonly (keyof ClientCommandMap[E])[] } = {
  message: ['text'],
  'task.start': ['text', 'review'],
  'task.refine': ['text'],
  'chat.send': ['text'],
  'task.cancel': [],
  'run.respond': ['requestId', 'answer'],
  'run.steer': ['text'],
  ping: [],
  resume: ['afterSeq'],
  'auth.refresh': ['token'],
};
const KNOWN_EVENTS = Object.keys(FIELDS) as ClientCommandName[];
/** The commands whose data is `{text}`. */
export const TEXT_EVENTS = [
  'message',
  'task.start',
  'task.refine',
  'chat.send',
  'run.steer',
] as const satisfies readonly ClientCommandName[];

function own(o: object, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isKnownEvent(event: string): event is ClientCommandName {
  return (KNOWN_EVENTS as string[]).includes(event);
}

function textValid(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const t = v.trim();
  return t.length > 0 && [...t].length <= MAX_INPUT_CHARS;
}

function seqValid(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_SAFE;
}

/** The contract's answer to a text frame whose bytes decode to `text`. */
export function expectForText(text: string, ctx: OracleCtx): AnswerExpectation {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'answer', keyed: [], unkeyed: ['BAD_JSON'] };
  }
  return expectForValue(value, ctx);
}

/** The contract's answer to a text frame that parses to `v`. */
export function expectForValue(v: unknown, ctx: OracleCtx): AnswerExpectation {
  const answer = (codes: AnswerKey[], unkeyedOnly: AnswerKey[] = [], id?: string): AnswerExpectation =>
    id === undefined
      ? { kind: 'answer', keyed: [], unkeyed: [...codes, ...unkeyedOnly] }
      : { kind: 'answer', id, keyed: codes, unkeyed: unkeyedOnly };
  if (!isPlainObject(v)) return answer(['BAD_FRAME']);
  const id = own(v, 'id');
  if (id !== undefined && (typeof id !== 'string' || id.length > 64)) return answer(['BAD_FRAME']);
  const replyTo = id;
  const event = own(v, 'event');
  const data = own(v, 'data');
  const extraTop = Object.keys(v).some((k) => !['event', 'data', 'id'].includes(k));
  const alt: AnswerKey[] = extraTop ? ['BAD_FRAME'] : [];
  if (typeof event !== 'string' || event.length < 1 || event.length > 64) {
    // An over-long event name may be called either a bad frame or an unknown event.
    const codes: AnswerKey[] =
      typeof event === 'string' && event.length > 64 ? ['BAD_FRAME', 'UNKNOWN_EVENT'] : ['BAD_FRAME'];
    return answer(codes, [], replyTo);
  }
  const known = isKnownEvent(event);
  const dataOk = data === undefined || isPlainObject(data);
  if (!dataOk) return answer(known ? ['BAD_FRAME'] : ['BAD_FRAME', 'UNKNOWN_EVENT'], [], replyTo);
  if (!isKnownEvent(event)) return answer(['UNKNOWN_EVENT', ...alt], [], replyTo);
  const d = data ?? {};
  // Keys the contract does not define may be ignored or refused, nothing else.
  const fields: readonly string[] = FIELDS[event];
  const extraData = Object.keys(d).some((k) => !fields.includes(k));
  const lenient: AnswerKey[] = [...alt, ...(extraData ? (['VALIDATION_FAILED'] as const) : [])];
  // One case per command of the contract: a command added there is a compile error here.
  switch (event) {
    case 'message':
    case 'task.start':
    case 'task.refine':
    case 'chat.send':
    case 'run.steer': {
      if (!textValid(own(d, 'text'))) return answer(['VALIDATION_FAILED', ...alt], [], replyTo);
      const review = event === 'task.start' ? own(d, 'review') : undefined;
      if (review !== undefined && review !== 'plan') return answer(['VALIDATION_FAILED', ...alt], [], replyTo);
      const ok: AnswerKey[] = event === 'chat.send' ? ['ack'] : ['ack', 'INVALID_STATE', 'RATE_LIMITED'];
      return answer([...ok, ...lenient], [], replyTo);
    }
    case 'ping':
      // pong carries no replyTo.
      return {
        kind: 'answer',
        id: replyTo,
        keyed: replyTo === undefined ? [] : lenient,
        unkeyed: ['pong', ...(replyTo === undefined ? lenient : [])],
      };
    case 'task.cancel':
      return answer(['ack', 'INVALID_STATE', ...lenient], [], replyTo);
    case 'run.respond': {
      const requestId = own(d, 'requestId');
      const reply = own(d, 'answer');
      if (typeof requestId !== 'string' || !requestId || requestId.length > 64 || !isPlainObject(reply)) {
        return answer(['VALIDATION_FAILED', ...alt], [], replyTo);
      }
      // No fuzzed session has a request open under a guessed id.
      return answer(['INVALID_STATE', ...lenient], [], replyTo);
    }
    case 'resume':
      if (!seqValid(own(d, 'afterSeq'))) return answer(['VALIDATION_FAILED', ...alt], [], replyTo);
      return answer(['ack', 'RESUME_UNAVAILABLE', ...lenient], [], replyTo);
    case 'auth.refresh': {
      const token = own(d, 'token');
      return answer(token === ctx.token ? ['ack', ...lenient] : ['VALIDATION_FAILED', ...alt], [], replyTo);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Answers

/** A reply that answers a client's frame (not a durable event, not the snapshot). */
export function isAnswer(f: unknown): f is AnswerFrame {
  const frame = f as { seq?: unknown; event?: unknown } | null | undefined;
  return typeof frame?.seq !== 'number' && ['ack', 'error', 'pong'].includes(frame?.event as string);
}

export function answerKey(f: AnswerFrame): AnswerKey {
  return f.event === 'error' ? (String(f.data?.code) as AnswerKey) : f.event;
}

function replyToOf(a: AnswerFrame): string | undefined {
  return a.data?.replyTo;
}

/** A frame's payload for a failure message. */
export function preview(frame: FuzzFrame): string {
  const b = Buffer.isBuffer(frame.payload) ? frame.payload : Buffer.from(frame.payload);
  const s = frame.binary ? `<binary ${b.length} bytes>` : b.toString('utf8');
  return s.length > 160 ? `${JSON.stringify(s.slice(0, 160))}… (${b.length} bytes)` : JSON.stringify(s);
}

/**
 * A maximum bipartite matching (Kuhn's augmenting paths) of `nFrames` frames to `nAnswers`
 * answers, `fits(f, a)` saying which answer a frame may get. Returns, per answer, its frame or -1.
 */
export function matchAnswers(nFrames: number, nAnswers: number, fits: (f: number, a: number) => boolean): number[] {
  const takenBy = new Array<number>(nAnswers).fill(-1);
  const augment = (fi: number, seen: boolean[]): boolean => {
    for (let ai = 0; ai < nAnswers; ai++) {
      if (seen[ai] || !fits(fi, ai)) continue;
      seen[ai] = true;
      if (takenBy[ai] < 0 || augment(takenBy[ai], seen)) {
        takenBy[ai] = fi;
        return true;
      }
    }
    return false;
  };
  for (let fi = 0; fi < nFrames; fi++) augment(fi, new Array<boolean>(nAnswers).fill(false));
  return takenBy;
}

/**
 * Checks a batch's answers against its frames (all of them answer frames, not closes): every
 * frame must get exactly one of the answers it may get, and no answer may be left over.
 * Returns the mismatches, each prefixed with `where`.
 *
 * Frames and answers are matched as a whole, keyed and unkeyed answers in one matching: an
 * answer with replyTo fits the frames of that id that may get it keyed, one without fits the
 * frames that may get it unkeyed. Mutated ids ('ping', '', '\u0000\u0001\u001f'...) may repeat
 * within a batch, and a ping with extra data may get either a pong or a keyed
 * VALIDATION_FAILED: matching keyed answers first, per id, could give a ping the
 * VALIDATION_FAILED that a resume of the same id needed, and leave the ping's pong over.
 */
export function checkBatch(frames: readonly FuzzFrame[], answers: readonly AnswerFrame[], where: string): string[] {
  const mismatches: string[] = [];
  const expects = frames.map((f) => f.expect as AnswerExpectation);
  const takenBy = matchAnswers(frames.length, answers.length, (fi, ai) => {
    const replyTo = replyToOf(answers[ai]);
    const key = answerKey(answers[ai]);
    const exp = expects[fi];
    return replyTo === undefined ? exp.unkeyed.includes(key) : exp.id === replyTo && exp.keyed.includes(key);
  });
  const matched = frames.map(() => false);
  for (const fi of takenBy) if (fi >= 0) matched[fi] = true;
  // A keyed answer that fits no frame of its id: a wrong answer to one still unanswered, else a
  // second answer.
  answers.forEach((a, ai) => {
    const replyTo = replyToOf(a);
    if (takenBy[ai] >= 0 || replyTo === undefined) return;
    const key = answerKey(a);
    const group = frames.map((_, fi) => fi).filter((fi) => expects[fi].id === replyTo);
    if (group.length === 0) {
      mismatches.push(`${where}: ${key} with replyTo ${JSON.stringify(replyTo)} matches no frame in flight`);
      return;
    }
    const fi = group.find((i) => !matched[i]);
    if (fi === undefined) {
      mismatches.push(`${where}: a second answer (${key}) to ${frames[group[0]].label}`);
      return;
    }
    const exp = expects[fi];
    mismatches.push(
      `${where}: ${frames[fi].label} got ${key} (${JSON.stringify((a.data as { message?: string })?.message ?? '').slice(0, 80)}), expected one of ${exp.keyed.join('|') || '(unkeyed ' + exp.unkeyed.join('|') + ')'}; frame ${preview(frames[fi])}`,
    );
    matched[fi] = true;
  });
  frames.forEach((frame, fi) => {
    if (matched[fi]) return;
    const exp = expects[fi];
    mismatches.push(
      `${where}: ${frame.label} got no answer of ${[...exp.keyed.map((k) => `${k}(replyTo)`), ...exp.unkeyed].join('|')}; frame ${preview(frame)}`,
    );
  });
  answers.forEach((a, ai) => {
    if (takenBy[ai] < 0 && replyToOf(a) === undefined) {
      mismatches.push(`${where}: unexpected ${answerKey(a)} without replyTo: ${JSON.stringify(a.data).slice(0, 200)}`);
    }
  });
  return mismatches;
}
