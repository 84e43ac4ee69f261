/** The fuzz oracle on its own: the answers it expects, and its matching of answers to frames. */
import type { ClientErrorCode } from '../../../src/contract';
import { checkBatch, expectForText, type AnswerFrame, type FuzzFrame } from './oracle';

const ctx = { token: 'own-token' };

function frame(label: string, text: string): FuzzFrame {
  return { label, payload: text, binary: false, fragments: 1, expect: expectForText(text, ctx) };
}

const ts = new Date(0).toISOString();
const pong = (): AnswerFrame => ({ event: 'pong', data: {}, ts });
const ack = (replyTo?: string): AnswerFrame => ({ event: 'ack', data: replyTo === undefined ? {} : { replyTo }, ts });
const error = (code: ClientErrorCode, replyTo?: string): AnswerFrame => ({
  event: 'error',
  data: { code, message: code, ...(replyTo === undefined ? {} : { replyTo }) },
  ts,
});

describe('fuzz oracle: expectations', () => {
  it('a ping with data the contract does not define may get a pong, or a keyed VALIDATION_FAILED', () => {
    expect(expectForText('{"event":"ping","data":{"extra":1},"id":"ping"}', ctx)).toEqual({
      kind: 'answer',
      id: 'ping',
      keyed: ['VALIDATION_FAILED'],
      unkeyed: ['pong'],
    });
  });

  it('names on Object.prototype are unknown events', () => {
    for (const event of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(expectForText(JSON.stringify({ event, id: 'x' }), ctx)).toEqual({
        kind: 'answer',
        id: 'x',
        keyed: ['UNKNOWN_EVENT'],
        unkeyed: [],
      });
    }
  });

  it('an unreadable id means no replyTo', () => {
    expect(expectForText(`{"event":"resume","data":{},"id":"${'i'.repeat(65)}"}`, ctx)).toEqual({
      kind: 'answer',
      keyed: [],
      unkeyed: ['BAD_FRAME'],
    });
  });
});

describe('fuzz oracle: matching a batch', () => {
  // Mutated ids repeat within a batch: here a ping with an extra data field (pong, or a keyed
  // VALIDATION_FAILED) and a resume with a bad afterSeq (only a keyed VALIDATION_FAILED), both
  // with the id "\u0000\u0001\u001f". The server answers the ping with a pong.
  const id = '\u0000\u0001\u001f';
  const ping = frame('mutated:wrong-type-data', JSON.stringify({ event: 'ping', data: { extra: 1 }, id }));
  const resume = frame('fragmented', JSON.stringify({ event: 'resume', data: { afterSeq: 'x' }, id }));

  it('matches keyed and unkeyed answers as a whole, whatever the order of frames and answers', () => {
    for (const frames of [
      [ping, resume],
      [resume, ping],
    ]) {
      expect(checkBatch(frames, [error('VALIDATION_FAILED', id), pong()], 'conn 0')).toEqual([]);
      expect(checkBatch(frames, [pong(), error('VALIDATION_FAILED', id)], 'conn 0')).toEqual([]);
    }
    // The ping may have the VALIDATION_FAILED too, when the resume has another of its own.
    expect(
      checkBatch([ping, resume], [error('VALIDATION_FAILED', id), error('VALIDATION_FAILED', id)], 'conn 0'),
    ).toEqual([]);
  });

  it('still reports a frame left without its answer', () => {
    // One answer for two frames: one of them (either) is reported.
    const one = checkBatch([ping, resume], [error('VALIDATION_FAILED', id)], 'conn 0');
    expect(one).toHaveLength(1);
    expect(one[0]).toMatch(/^conn 0: (mutated:wrong-type-data|fragmented) got no answer of /);
    expect(checkBatch([ping, resume], [pong(), pong()], 'conn 0')).toEqual([
      `conn 0: fragmented got no answer of VALIDATION_FAILED(replyTo); frame ${JSON.stringify(resume.payload)}`,
      'conn 0: unexpected pong without replyTo: {}',
    ]);
  });

  it('reports a wrong answer, a second answer, and an answer to no frame', () => {
    const cancel = frame('valid:task.cancel', '{"event":"task.cancel","data":{},"id":"c0-1"}');
    expect(checkBatch([cancel], [error('INTERNAL', 'c0-1')], 'conn 0')).toEqual([
      `conn 0: valid:task.cancel got INTERNAL ("INTERNAL"), expected one of ack|INVALID_STATE; frame ${JSON.stringify(cancel.payload)}`,
    ]);
    expect(checkBatch([cancel], [ack('c0-1'), ack('c0-1')], 'conn 0')).toEqual([
      'conn 0: a second answer (ack) to valid:task.cancel',
    ]);
    expect(checkBatch([cancel], [ack('c0-1'), ack('c0-2')], 'conn 0')).toEqual([
      'conn 0: ack with replyTo "c0-2" matches no frame in flight',
    ]);
    expect(checkBatch([cancel], [ack()], 'conn 0')).toEqual([
      `conn 0: valid:task.cancel got no answer of ack(replyTo)|INVALID_STATE(replyTo); frame ${JSON.stringify(cancel.payload)}`,
      'conn 0: unexpected ack without replyTo: {}',
    ]);
  });
});
