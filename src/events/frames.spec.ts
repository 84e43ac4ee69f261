import { durable, frameTail, seqOfFrame } from './frames';

describe('seqOfFrame', () => {
  it('reads the seq the append script put in front, from text and from bytes', () => {
    const frame = `{"seq":40213,${frameTail(durable('chat.response', { text: '{"seq":7,' }))}`;
    expect(seqOfFrame(frame)).toBe(40213);
    expect(seqOfFrame(Buffer.from(frame))).toBe(40213);
    expect(JSON.parse(frame)).toMatchObject({ seq: 40213, event: 'chat.response' });
  });
});
