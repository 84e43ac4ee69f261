import { ClientError } from '../common/client-error';
import { parseEnvelope, validateData } from './client-frames';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ClientError) return err.code;
    throw err;
  }
  return 'OK';
}

describe('client frames', () => {
  const frame = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

  it('answers each malformed envelope with its contract code', () => {
    expect(codeOf(() => parseEnvelope(frame('{nope'), false))).toBe('BAD_JSON');
    expect(codeOf(() => parseEnvelope(frame({ event: 'ping' }), true))).toBe('BAD_FRAME');
    expect(codeOf(() => parseEnvelope(frame([1, 2]), false))).toBe('BAD_FRAME');
    expect(codeOf(() => parseEnvelope(frame({ data: {} }), false))).toBe('BAD_FRAME');
    expect(codeOf(() => parseEnvelope(frame({ event: 'ping', id: 'x'.repeat(65) }), false))).toBe('BAD_FRAME');
    expect(codeOf(() => parseEnvelope(frame({ event: 'ping', data: 'x' }), false))).toBe('BAD_FRAME');
    expect(parseEnvelope(frame({ event: 'ping', id: 'a' }), false)).toEqual({ event: 'ping', data: {}, id: 'a' });
  });

  it('validates data per event, trimming text and checking its length', () => {
    expect(validateData('task.start', { text: '  hi  ' }, 10)).toMatchObject({ text: 'hi' });
    expect(codeOf(() => validateData('task.start', { text: '   ' }, 10))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateData('task.start', { text: 5 }, 10))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateData('task.start', { text: 'x'.repeat(11) }, 10))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateData('task.start', { text: 'x'.repeat(10) }, 10))).toBe('OK');
    expect(codeOf(() => validateData('resume', { afterSeq: -1 }, 10))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateData('resume', { afterSeq: 1.5 }, 10))).toBe('VALIDATION_FAILED');
    expect(validateData('resume', { afterSeq: 3 }, 10)).toMatchObject({ afterSeq: 3 });
  });

  it('answers deeply nested data with VALIDATION_FAILED or ignores it, never overflowing the stack', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(codeOf(() => validateData('ping', { x: deep }, 10))).toBe('OK');
    expect(codeOf(() => validateData('task.start', { text: deep }, 10))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => validateData('resume', { afterSeq: { n: deep } }, 10))).toBe('VALIDATION_FAILED');
    expect(validateData('task.start', { text: 'hi', extra: deep }, 10)).not.toHaveProperty('extra');
  });
});
