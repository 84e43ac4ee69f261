import 'reflect-metadata';
import { IsInt, IsNotEmpty, IsString, Max, MaxLength, Min, validateSync } from 'class-validator';
import { ClientError } from '../common/client-error';

/** A validated client frame as the gateway's handlers receive it. */
export interface ClientFrame<D = Record<string, unknown>> {
  event: string;
  data: D;
  id?: string;
}

/** `text` is trimmed before it is validated (see validateData). */
export class TextData {
  @IsString()
  @IsNotEmpty({ message: 'text must not be empty' })
  text!: string;
}

export class ResumeData {
  @IsInt({ message: 'afterSeq must be a whole number' })
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  afterSeq!: number;
}

export class TokenData {
  @IsString({ message: 'token must be a string' })
  @IsNotEmpty({ message: 'token must not be empty' })
  @MaxLength(8192)
  token!: string;
}

export class EmptyData {}

/** The client events of the contract and the shape of each one's data. */
export const CLIENT_EVENTS = {
  message: TextData,
  'task.start': TextData,
  'task.refine': TextData,
  'chat.send': TextData,
  'task.cancel': EmptyData,
  resume: ResumeData,
  ping: EmptyData,
  'auth.refresh': TokenData,
} as const;
export type ClientEventName = keyof typeof CLIENT_EVENTS;

/** The fields each data class reads; anything else a client sends is dropped unread. */
const FIELDS = new Map<new () => object, string[]>([
  [TextData, ['text']],
  [ResumeData, ['afterSeq']],
  [TokenData, ['token']],
  [EmptyData, []],
]);

export function isClientEvent(name: string): name is ClientEventName {
  return Object.prototype.hasOwnProperty.call(CLIENT_EVENTS, name);
}

/** Parses a raw frame into its envelope, or throws the contract's error code. */
export function parseEnvelope(raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ClientFrame<unknown> {
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

/** Validates a known event's data with its class; text length is checked against the limit. */
export function validateData(event: ClientEventName, data: unknown, maxInputChars: number): Record<string, unknown> {
  const type = CLIENT_EVENTS[event] as new () => object;
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
  if (type === TextData && typeof picked.text === 'string') picked.text = picked.text.trim();
  const dto = Object.assign(new type(), picked);
  const errors = validateSync(dto, { forbidUnknownValues: false });
  if (errors.length > 0) {
    const message = errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ');
    throw new ClientError('VALIDATION_FAILED', message || 'invalid data');
  }
  if (dto instanceof TextData && [...dto.text].length > maxInputChars) {
    throw new ClientError('VALIDATION_FAILED', `text must be at most ${maxInputChars} characters`);
  }
  return dto;
}
