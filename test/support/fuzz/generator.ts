/**
 * Fuzz support: the frame generator. Seeded random client frames: valid commands, and valid
 * ones mutated (wrong types, missing fields, `__proto__` / `constructor` keys, huge numbers and
 * strings, odd event names and ids), deep nesting, garbage text, binary frames, fragmented
 * frames, invalid UTF-8, oversize frames. Each comes with the answer the oracle says it must get.
 */
import type { ClientCommandMap, ClientCommandName } from '../../../src/contract';
import { MAX_FRAME_BYTES, MAX_INPUT_CHARS, MAX_SAFE } from './limits';
import { expectForText, isPlainObject, TEXT_EVENTS, type FuzzFrame, type OracleCtx } from './oracle';
import type { Rng } from './rng';

/** The connection a frame is made for. */
export interface FuzzCtx extends OracleCtx {
  /** The highest seq this connection has seen: resumes ask for recent events, not the whole history. */
  seq: number;
  /** A token of another user. */
  otherToken: string;
  conn: number;
  nextId: () => string;
}

/** A label and the frame's JSON text. */
interface LabelledText {
  label: string;
  text: string;
}

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const EVENT_MUTANTS = [
  'PING',
  ' ping',
  'ping ',
  'ping\u0000',
  'task.Start',
  'task',
  'task.',
  '.start',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  'session.snapshot',
  'ack',
  'error',
  'run.completed',
  'ευρεκα',
  '😀',
  'e'.repeat(64),
  'e'.repeat(65),
  'ping'.repeat(100),
  '',
];
const RAW_NUMBERS = [
  '1e400',
  '-1e400',
  '-0',
  '123456789012345678901234567890',
  '1E+5',
  '0.1e-400',
  '9007199254740993',
  '-1',
  '1.5',
];
/** A placeholder value, replaced in the JSON text by one of RAW_NUMBERS. */
const RAW_NUMBER = '__RAW_NUMBER__';
const NUM = JSON.stringify(RAW_NUMBER);

const INVALID_UTF8: Buffer[] = [
  Buffer.from([0xff]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0x80, 0x80]),
];

/** Nested arrays or objects `depth` deep. */
export function deep(depth: number, objects: boolean): string {
  return objects ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** A client frame `{event, data, id}` (no `data` key when `data` is undefined), free to mutate. */
function command<E extends ClientCommandName>(
  event: E,
  data: ClientCommandMap[E] | undefined,
  id: string,
): Record<string, unknown> {
  return data === undefined ? { event, id } : { event, data, id };
}

export class FrameGenerator {
  constructor(private readonly rng: Rng) {}

  /** The next frame for a connection. */
  next(ctx: FuzzCtx): FuzzFrame {
    const rng = this.rng;
    const r = rng.next();
    if (r < 0.22) {
      const v = this.validValue(ctx);
      return textFrame(`valid:${String(v.event)}`, JSON.stringify(v), ctx);
    }
    if (r < 0.64) {
      const m = this.mutatedText(ctx);
      return textFrame(m.label, m.text, ctx);
    }
    if (r < 0.7) {
      const g = this.deepText(ctx);
      return textFrame(g.label, g.text, ctx);
    }
    if (r < 0.82) {
      const g = this.garbageText(ctx);
      return textFrame(g.label, g.text, ctx);
    }
    if (r < 0.88) {
      const body = rng.chance(0.5) ? Buffer.from(JSON.stringify(this.validValue(ctx))) : rng.bytes(rng.int(2_000));
      // Binary frames are refused unread: BAD_FRAME, never a replyTo.
      return {
        label: 'binary',
        payload: body,
        binary: true,
        fragments: 1,
        expect: { kind: 'answer', keyed: [], unkeyed: ['BAD_FRAME'] },
      };
    }
    if (r < 0.94) {
      // Multi-byte text too, so fragments split characters: the server must join them first.
      const source = rng.chance(0.4)
        ? JSON.stringify(command('chat.send', { text: 'héllo 😀 wörld ✓ '.repeat(1 + rng.int(5)) }, ctx.nextId()))
        : rng.chance(0.5)
          ? JSON.stringify(this.validValue(ctx))
          : this.mutatedText(ctx).text;
      return textFrame('fragmented', source, ctx, 2 + rng.int(3));
    }
    if (r < 0.965) {
      const bad = rng.pick(INVALID_UTF8);
      const valid = Buffer.from(JSON.stringify(this.validValue(ctx)));
      const at = rng.int(valid.length);
      const payload = Buffer.concat([valid.subarray(0, at), bad, valid.subarray(at)]);
      return { label: 'invalid-utf8', payload, binary: false, fragments: 1, expect: { kind: 'close', code: 1007 } };
    }
    if (r < 0.98) {
      const size = MAX_FRAME_BYTES + 1 + rng.int(20_000);
      if (rng.chance(0.4)) {
        return {
          label: 'oversize:binary',
          payload: rng.bytes(size),
          binary: true,
          fragments: 1,
          expect: { kind: 'close', code: 1009 },
        };
      }
      const text = JSON.stringify(command('chat.send', { text: 'x'.repeat(size) }, ctx.nextId()));
      return {
        label: 'oversize:text',
        payload: Buffer.from(text),
        binary: false,
        fragments: rng.chance(0.3) ? 3 : 1,
        expect: { kind: 'close', code: 1009 },
      };
    }
    // Over the text limit but under the frame limit: a validation error, not a close.
    const text = JSON.stringify(
      command(rng.pick(TEXT_EVENTS), { text: 'y'.repeat(MAX_INPUT_CHARS + 1 + rng.int(40_000)) }, ctx.nextId()),
    );
    return textFrame('long-text', text, ctx);
  }

  /** A valid command, mostly the ones a fuzz connection may send at any time. */
  private validValue(ctx: FuzzCtx): Record<string, unknown> {
    const rng = this.rng;
    const id = ctx.nextId();
    const r = rng.next();
    if (r < 0.35) return rng.chance(0.3) ? command('ping', undefined, id) : command('ping', {}, id);
    if (r < 0.5) {
      const afterSeq = rng.pick([Math.max(0, ctx.seq - rng.int(5)), ctx.seq + 1 + rng.int(100), MAX_SAFE]);
      return command('resume', { afterSeq }, id);
    }
    if (r < 0.6) return command('task.cancel', {}, id);
    if (r < 0.72)
      return command('auth.refresh', { token: rng.pick([ctx.token, ctx.token, ctx.otherToken, 'x.y.z']) }, id);
    if (r < 0.8) return command('chat.send', { text: `How far along is it? (${rng.int(1e6)})` }, id);
    if (r < 0.81) return command('task.start', { text: `Summarize item ${rng.int(1e6)}.` }, id);
    if (r < 0.82) return command('message', { text: `Summarize item ${rng.int(1e6)}.` }, id);
    if (r < 0.83) return command('task.refine', { text: 'Shorter.' }, id);
    return command(rng.pick(['ping', 'task.cancel'] as const), undefined, id);
  }

  /** A value of the wrong type (or shape) for wherever it is put. */
  private wrongValue(): unknown {
    const rng = this.rng;
    const r = rng.int(22);
    switch (r) {
      case 0:
        return 0;
      case 1:
        return -1;
      case 2:
        return 1.5;
      case 3:
        return 1e308;
      case 4:
        return MAX_SAFE + 2;
      case 5:
        return true;
      case 6:
        return null;
      case 7:
        return [];
      case 8:
        return [1, 'two', { three: 3 }];
      case 9:
        return {};
      case 10:
        return { text: 'nested' };
      case 11:
        return '';
      case 12:
        return '   \t\n ';
      case 13:
        return 'x'.repeat(rng.int(300));
      case 14:
        return '\u0000\u0001\u001f';
      case 15:
        return 'ping';
      case 16:
        return String(rng.int(1e6));
      case 17:
        return MAX_SAFE;
      case 18:
        return -MAX_SAFE - 1;
      case 19:
        return '\ud800\udfff\u2028\u2029';
      case 20:
        return { __raw: true };
      default:
        return false;
    }
  }

  /** Text at and around the limits, blank, or hostile. */
  private randomText(): string {
    const rng = this.rng;
    switch (rng.int(8)) {
      case 0:
        return 'x'.repeat(MAX_INPUT_CHARS);
      case 1:
        return 'x'.repeat(MAX_INPUT_CHARS + 1);
      case 2:
        return '😀'.repeat(MAX_INPUT_CHARS - rng.int(2));
      case 3:
        return '😀'.repeat(MAX_INPUT_CHARS + 1);
      case 4:
        return `${' '.repeat(rng.int(500))}hello${'\n'.repeat(rng.int(500))}`;
      case 5:
        return ' \u00a0\t\n';
      case 6:
        return 'Status? <script>alert(1)</script> {{constructor.constructor("x")()}} ${7*7} \' OR 1=1 --';
      default:
        return `What is the status of item ${rng.int(1000)}?`;
    }
  }

  /** A valid frame with 1 to 3 mutations, as JSON text (raw numbers spliced in). */
  private mutatedText(ctx: FuzzCtx): LabelledText {
    const rng = this.rng;
    const v = this.validValue(ctx);
    const labels: string[] = [];
    let raw: string | undefined;
    const n = 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const data = isPlainObject(v.data) ? v.data : undefined;
      switch (rng.int(12)) {
        case 0: {
          const target = data && rng.chance(0.5) ? data : v;
          const keys = Object.keys(target);
          if (keys.length) delete target[rng.pick(keys)];
          labels.push('missing-field');
          break;
        }
        case 1:
          v[rng.pick(['event', 'data', 'id'])] = this.wrongValue();
          labels.push('wrong-type-top');
          break;
        case 2:
          if (data) data[rng.pick(['text', 'afterSeq', 'token', 'extra'])] = this.wrongValue();
          labels.push('wrong-type-data');
          break;
        case 3:
          v.event = rng.pick(EVENT_MUTANTS);
          labels.push('event-name');
          break;
        case 4:
          v.id = rng.pick<unknown>(['i'.repeat(65), 'i'.repeat(64), 7, { id: 'x' }, null, ['a'], true]);
          if (v.id === 'i'.repeat(64)) v.id = `${ctx.nextId()}${'i'.repeat(40)}`.slice(0, 64);
          labels.push('id');
          break;
        case 5: {
          const key = rng.pick(PROTO_KEYS);
          const value = rng.pick<unknown>([
            { text: 'polluted' },
            { polluted: true },
            { prototype: { polluted: true } },
            null,
            'x',
          ]);
          Object.defineProperty(rng.chance(0.6) && data ? data : v, key, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          labels.push('proto-key');
          break;
        }
        case 6:
          if (data) data[rng.pick(['text', 'token'])] = this.randomText();
          labels.push('long-string');
          break;
        case 7:
          raw = rng.pick(RAW_NUMBERS);
          if (data && rng.chance(0.7)) data[rng.pick(['afterSeq', 'text', 'token'])] = RAW_NUMBER;
          else v[rng.pick(['id', 'event', 'data'])] = RAW_NUMBER;
          labels.push('huge-number');
          break;
        case 8:
          v.extra = this.wrongValue();
          labels.push('extra-top-key');
          break;
        case 9:
          v.data = rng.pick<unknown>(['text', 42, null, [], [{ text: 'x' }], true]);
          labels.push('data-not-object');
          break;
        case 10:
          if (data) data.text = rng.pick(['\ud800', 'a\udc00b', '\u0000', '\u200b', '\ufeff']);
          labels.push('odd-unicode');
          break;
        default:
          if (data) data.afterSeq = rng.pick<unknown>([-1, 0.5, '3', 1e21, MAX_SAFE + 1, -0, [3], { n: 3 }, null]);
          labels.push('afterSeq');
          break;
      }
    }
    let text = JSON.stringify(v);
    if (raw !== undefined) text = text.split(NUM).join(raw);
    return { label: `mutated:${labels.join('+')}`, text };
  }

  /** Nesting from 64 to 10,000 levels, at the top, as data, or as a field's value. */
  private deepText(ctx: FuzzCtx): LabelledText {
    const rng = this.rng;
    const depth = rng.pick([64, 500, 2_000, 5_000, 10_000]);
    const objects = rng.chance(0.5);
    // Objects take 6 bytes a level: keep every frame under MAX_FRAME_BYTES.
    const d = objects ? Math.min(depth, 9_000) : depth;
    const nested = deep(d, objects);
    const id = JSON.stringify(ctx.nextId());
    switch (rng.int(5)) {
      case 0:
        return { label: `deep:top-level-${d}`, text: nested };
      case 1:
        return { label: `deep:data-${d}`, text: `{"event":"ping","data":${nested},"id":${id}}` };
      case 2:
        return { label: `deep:ping-extra-${d}`, text: `{"event":"ping","data":{"x":${nested}},"id":${id}}` };
      case 3:
        return { label: `deep:text-${d}`, text: `{"event":"chat.send","data":{"text":${nested}},"id":${id}}` };
      default:
        return { label: `deep:resume-${d}`, text: `{"event":"resume","data":{"afterSeq":${nested}},"id":${id}}` };
    }
  }

  /** Text that is not a frame: not JSON, not an object, or JSON a strict parser would refuse. */
  private garbageText(ctx: FuzzCtx): LabelledText {
    const rng = this.rng;
    switch (rng.int(9)) {
      case 0: {
        const n = rng.int(200);
        let s = '';
        for (let i = 0; i < n; i++) s += String.fromCharCode(32 + rng.int(95));
        return { label: 'garbage:printable', text: s };
      }
      case 1: {
        const full = JSON.stringify(this.validValue(ctx));
        return { label: 'garbage:truncated-json', text: full.slice(0, rng.int(full.length)) };
      }
      case 2:
        return {
          label: 'garbage:primitive',
          text: rng.pick(['null', '1', 'true', '"ping"', '[]', '[{"event":"ping"}]', '1e400', '{}', '""']),
        };
      case 3:
        return { label: 'garbage:empty', text: rng.pick(['', ' ', '\n\t', '\u0000']) };
      case 4:
        return { label: 'garbage:bom', text: `\ufeff${JSON.stringify(this.validValue(ctx))}` };
      case 5:
        return {
          label: 'garbage:duplicate-keys',
          text: `{"event":"ping","event":"nope","id":${JSON.stringify(ctx.nextId())}}`,
        };
      case 6:
        return { label: 'garbage:json-with-comments', text: `{"event":"ping" /* hi */}` };
      case 7: {
        let s = '';
        const n = 1 + rng.int(200);
        for (let i = 0; i < n; i++)
          s += String.fromCodePoint(rng.chance(0.5) ? 0x80 + rng.int(0x7ff) : 0x10000 + rng.int(0xffff));
        return { label: 'garbage:unicode', text: s };
      }
      default:
        return { label: 'garbage:number-soup', text: rng.pick(RAW_NUMBERS) };
    }
  }
}

/** A text frame and the answer the oracle gives it (a 1009 close when it is over the limit). */
function textFrame(label: string, text: string, ctx: OracleCtx, fragments = 1): FuzzFrame {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_FRAME_BYTES)
    return { label, payload: bytes, binary: false, fragments, expect: { kind: 'close', code: 1009 } };
  // What the server decodes (lone surrogates were sent as U+FFFD).
  return { label, payload: bytes, binary: false, fragments, expect: expectForText(bytes.toString('utf8'), ctx) };
}
