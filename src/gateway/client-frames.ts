import 'reflect-metadata';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min, validateSync } from 'class-validator';
import { ClientError } from '../common/client-error';
import type {
  ClientCommand,
  ClientCommandMap,
  ClientCommandName,
  EmptyCommandData,
  RespondCommandData,
  ResumeCommandData,
  TaskStartCommandData,
  TextCommandData,
  TokenCommandData,
} from '../contract';

/** A frame's envelope, parsed but not yet validated against its command. */
export interface RawFrame {
  event: string;
  data: unknown;
  id?: string;
}

/** `text` is trimmed before it is validated (see validateCommand). */
export class TextData implements TextCommandData {
  @IsString()
  @IsNotEmpty({ message: 'text must not be empty' })
  text!: string;
}

/** `task.start` (v2: `review: "plan"` asks for the plan's review before the executors run). */
export class TaskStartData extends TextData implements TaskStartCommandData {
  @IsOptional()
  @IsIn(['plan'], { message: 'review must be "plan"' })
  review?: 'plan';
}

/** `run.respond`: its answer's shape depends on the request's kind, checked against the open request. */
export class RespondData implements RespondCommandData {
  @IsString({ message: 'requestId must be a string' })
  @IsNotEmpty({ message: 'requestId must not be empty' })
  @MaxLength(64)
  requestId!: string;

  answer!: unknown;
}

export class ResumeData implements ResumeCommandData {
  @IsInt({ message: 'afterSeq must be a whole number' })
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  afterSeq!: number;
}

export class TokenData implements TokenCommandData {
  @IsString({ message: 'token must be a string' })
  @IsNotEmpty({ message: 'token must not be empty' })
  @MaxLength(8192)
  token!: string;
}

export class EmptyData implements EmptyCommandData {
  [key: string]: never;
}

/** The validator of each command's data: a class per shape of the contract's ClientCommandMap. */
export const CLIENT_EVENTS: { readonly [E in ClientCommandName]: new () => ClientCommandMap[E] } = {
  message: TextData,
  'task.start': TaskStartData,
  'task.refine': TextData,
  'chat.send': TextData,
  'task.cancel': EmptyData,
  'run.respond': RespondData,
  'run.steer': TextData,
  resume: ResumeData,
  ping: EmptyData,
  'auth.refresh': TokenData,
};

/** The fields each data class reads; anything else a client sends is dropped unread. */
const FIELDS = new Map<new () => object, string[]>([
  [TextData, ['text']],
  [TaskStartData, ['text', 'review']],
  [RespondData, ['requestId']],
  [ResumeData, ['afterSeq']],
  [TokenData, ['token']],
  [EmptyData, []],
]);

export function isClientEvent(name: string): name is ClientCommandName {
  return Object.prototype.hasOwnProperty.call(CLIENT_EVENTS, name);
}

/** Parses a raw frame into its envelope, or throws the contract's error code. */
export function parseEnvelope(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): RawFrame {
  if (isBinary) throw new ClientError('BAD_FRAME', 'binary frames are not accepted; send UTF-8 JSON text');
  const text = Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw as Buffer).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ClientError('BAD_JSON', 'the frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClientError('BAD_FRAME', 'a frame is a JSON object {event, data, id?}');
  }
  const { event, data, id } = value as Record<string, unknown>;
  if (id !== undefined && (typeof id !== 'string' || id.length > 64)) {
    throw new ClientError('BAD_FRAME', '"id" must be a string of at most 64 characters');
  }
  const replyTo = id;
  if (typeof event !== 'string' || event.length === 0 || event.length > 64) {
    throw new ClientError('BAD_FRAME', 'the frame needs an "event" string', replyTo);
  }
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) {
    throw new ClientError('BAD_FRAME', '"data" must be a JSON object', replyTo);
  }
  return { event, data: data ?? {}, id };
}

/**
 * Validates a known command's data with its class (text length against the limit) and
 * returns the command, narrowed by its event: the one place where a frame becomes typed.
 */
export function validateCommand(event: ClientCommandName, frame: RawFrame, maxInputChars: number): ClientCommand {
  return { event, data: validateData(event, frame.data, maxInputChars), id: frame.id } as ClientCommand;
}

/** Validates a known command's data with its class; text length is checked against the limit. */
export function validateData<E extends ClientCommandName>(
  event: E,
  data: unknown,
  maxInputChars: number,
): ClientCommandMap[E] {
  const type: new () => object = CLIENT_EVENTS[event];
  // Only declared fields, and only scalar values, reach class-transformer: it recurses into
  // whatever it is given, and a deeply nested value would exhaust the stack.
  const picked: Record<string, unknown> = {};
  for (const field of FIELDS.get(type) ?? []) {
    const value = (data as Record<string, unknown>)[field];
    if (value !== null && typeof value === 'object') {
      throw new ClientError('VALIDATION_FAILED', `${field} must be a ${field === 'afterSeq' ? 'number' : 'string'}`);
    }
    if (value !== undefined) picked[field] = value;
  }
  // The picked fields are scalars already: they are set on the class directly (class-transformer
  // was a tenth of the gateway's CPU in a burst of starts), and `text` is trimmed here.
  if (typeof picked.text === 'string') picked.text = picked.text.trim();
  if (type === RespondData) {
    // The answer is an object (read as JSON, never walked here); its shape is the request's to check.
    const answer = (data as Record<string, unknown>).answer;
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      throw new ClientError('VALIDATION_FAILED', 'answer must be an object');
    }
    picked.answer = answer;
  }
  const dto = Object.assign(new type(), picked);
  const errors = validateSync(dto, { forbidUnknownValues: false });
  if (errors.length > 0) {
    const message = errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ');
    throw new ClientError('VALIDATION_FAILED', message || 'invalid data');
  }
  if (dto instanceof TextData && [...dto.text].length > maxInputChars) {
    throw new ClientError('VALIDATION_FAILED', `text must be at most ${maxInputChars} characters`);
  }
  return dto as ClientCommandMap[E];
}
