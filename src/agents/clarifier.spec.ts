import { decisionOf } from './clarifier';

describe("the Clarifier's decision", () => {
  it('reads JSON {kind, reply}, fenced or with text around it', () => {
    expect(decisionOf('{"kind":"instruction","reply":"Google is skipped."}')).toEqual({
      kind: 'instruction',
      reply: 'Google is skipped.',
    });
    expect(decisionOf('Sure:\n```json\n{"kind":"question","reply":"Step 2 runs."}\n```')).toEqual({
      kind: 'question',
      reply: 'Step 2 runs.',
    });
  });

  it('takes anything else as the answer to a question, as in v1', () => {
    for (const text of [
      'Step 2 of 5 is running.',
      '{"kind":"order","reply":"x"}',
      '{"kind":"instruction"}',
      '{oops}',
    ]) {
      expect(decisionOf(text)).toEqual({ kind: 'question', reply: text });
    }
  });
});
