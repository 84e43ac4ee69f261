/**
 * End-to-end: every bad frame of the wire contract (/work/shared/protocol.md, "Frames"),
 * over a real WebSocket to a real `node dist/main.js all` with a real redis-server.
 *
 * Each bad frame is answered with an `error` reply (no seq, ISO-8601 ts) and the connection
 * stays open, which every test proves with a ping → pong afterwards.
 */
import type { ClientErrorCode, FrameOf, ServerFrame } from '../src/contract';
import { expectEvent, isDurable } from './support/frames';
import type { MawsProcess } from './support/maws-process';
import { connect } from './support/session';
import { setUpSuite, startStack } from './support/suite';
import { signToken } from './support/tokens';
import { TestClient } from './support/ws-client';

jest.setTimeout(30_000);

const MAX_INPUT_CHARS = 100;
const MAX_FRAME_BYTES = 4096;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

let maws: MawsProcess;
let sessionCounter = 0;

setUpSuite(async () => {
  [maws] = (
    await startStack(['all'], {
      MAX_INPUT_CHARS: String(MAX_INPUT_CHARS),
      MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      OFFLINE_TOKEN_DELAY_MS: '0',
    })
  ).procs;
});

/** A fresh session (own user, own sessionId), connected, with its snapshot received. */
async function connectFresh(): Promise<TestClient> {
  sessionCounter += 1;
  const user = `frames-user-${sessionCounter}`;
  return (await connect(maws, `frames-${sessionCounter}`, signToken(user))).client;
}

/** A reply frame: the contract says replies carry no seq and an ISO-8601 ts. */
function expectReplyShape(frame: ServerFrame): void {
  expect(frame).not.toHaveProperty('seq');
  expect(typeof frame.ts).toBe('string');
  expect(frame.ts).toMatch(ISO_8601);
  expect(Number.isNaN(Date.parse(frame.ts))).toBe(false);
  expect(typeof frame.data).toBe('object');
  expect(frame.data).not.toBeNull();
}

/** The next `error` frame after `since`, checked for shape. */
async function nextError(client: TestClient, since: number): Promise<FrameOf<'error'>> {
  const err = await client.waitForEvent('error', undefined, 10_000, since);
  expectReplyShape(err);
  expect(typeof err.data.code).toBe('string');
  expect(typeof err.data.message).toBe('string');
  expect(err.data.message.length).toBeGreaterThan(0);
  return err;
}

/** Proves the socket is still open and served: ping → pong (a reply without seq). */
async function expectStillOpen(client: TestClient): Promise<void> {
  expect(client.isOpen).toBe(true);
  const since = client.frames.length;
  client.send('ping', {});
  const pong = await client.waitForEvent('pong', undefined, 10_000, since);
  expectReplyShape(pong);
  expect(pong.data).toEqual({});
  expect(client.isOpen).toBe(true);
}

/** Sends raw text (or a Buffer), expects one error with `code` (and replyTo when given). */
async function expectRawRejected(
  client: TestClient,
  raw: string | Buffer,
  code: ClientErrorCode,
  replyTo?: string,
): Promise<FrameOf<'error'>> {
  const since = client.frames.length;
  client.sendRaw(raw);
  const err = await nextError(client, since);
  expect(err.data.code).toBe(code);
  if (replyTo !== undefined) expect(err.data.replyTo).toBe(replyTo);
  await expectStillOpen(client);
  return err;
}

describe('reply frames', () => {
  it('the session.snapshot sent first on connect has no seq and an ISO-8601 ts', async () => {
    const client = await connectFresh();
    const snap = expectEvent(client.frames[0], 'session.snapshot');
    expectReplyShape(snap);
    expect(snap.data.state).toBe('IDLE');
    expect(snap.data.lastSeq).toBe(0);
  });

  it('ping is answered by pong (no seq, ISO-8601 ts)', async () => {
    const client = await connectFresh();
    await expectStillOpen(client);
  });

  it('an accepted command gets an ack with replyTo, no seq and an ISO-8601 ts', async () => {
    const client = await connectFresh();
    const ack = expectEvent(await client.request('task.start', { text: 'Compare two sorting algorithms' }), 'ack');
    expectReplyShape(ack);
    expect(typeof ack.data.replyTo).toBe('string');
    expect(typeof ack.data.runId).toBe('string');
    await client.waitForEvent('run.completed', undefined, 20_000);
    await expectStillOpen(client);
  });
});

describe('envelope errors', () => {
  it('invalid JSON → BAD_JSON, connection stays open', async () => {
    const client = await connectFresh();
    const err = await expectRawRejected(client, '{"event": "ping", "data": {', 'BAD_JSON');
    expect(err.data).not.toHaveProperty('replyTo');
    await expectRawRejected(client, 'not json at all', 'BAD_JSON');
  });

  it('a binary frame → BAD_FRAME, connection stays open', async () => {
    const client = await connectFresh();
    // Even a binary frame whose bytes are a valid JSON frame is refused.
    await expectRawRejected(client, Buffer.from(JSON.stringify({ event: 'ping', data: {} })), 'BAD_FRAME');
    await expectRawRejected(client, Buffer.from([0, 1, 2, 255]), 'BAD_FRAME');
  });

  it.each([
    ['an array', '[]'],
    ['an array holding a frame', '[{"event":"ping","data":{}}]'],
    ['a number', '42'],
    ['a string', '"ping"'],
    ['null', 'null'],
    ['a boolean', 'true'],
  ])('JSON that is %s, not an object → BAD_FRAME', async (_what, raw) => {
    const client = await connectFresh();
    await expectRawRejected(client, raw, 'BAD_FRAME');
  });

  it.each([
    ['missing', { data: {} }],
    ['a number', { event: 7, data: {} }],
    ['null', { event: null, data: {} }],
    ['an object', { event: { name: 'ping' }, data: {} }],
    ['an array', { event: ['ping'], data: {} }],
  ])('`event` %s → BAD_FRAME', async (_what, frame) => {
    const client = await connectFresh();
    await expectRawRejected(client, JSON.stringify(frame), 'BAD_FRAME');
  });

  it('`event` missing, with a valid id → BAD_FRAME carrying replyTo = the id', async () => {
    const client = await connectFresh();
    await expectRawRejected(client, JSON.stringify({ data: {}, id: 'no-event-1' }), 'BAD_FRAME', 'no-event-1');
  });

  it.each([
    ['65 characters long', 'x'.repeat(65)],
    ['a number', 12],
    ['an object', { a: 1 }],
    ['null', null],
    ['a boolean', true],
  ])('`id` that is %s → BAD_FRAME', async (_what, id) => {
    const client = await connectFresh();
    await expectRawRejected(client, JSON.stringify({ event: 'ping', data: {}, id }), 'BAD_FRAME');
  });

  it('`id` of exactly 64 characters is accepted and echoed as replyTo', async () => {
    const client = await connectFresh();
    const id = 'i'.repeat(64);
    const since = client.frames.length;
    client.send('task.start', { text: 'Summarise the history of the bicycle' }, id);
    const ack = await client.waitForEvent(['ack', 'error'], (f) => f.data.replyTo === id, 10_000, since);
    expect(ack.event).toBe('ack');
    expectReplyShape(ack);
    await client.waitForEvent('run.completed', undefined, 20_000);
    await expectStillOpen(client);
  });

  it.each([
    ['a number', 5],
    ['a string', 'text'],
    ['an array', [1, 2]],
    ['null', null],
    ['a boolean', false],
  ])('`data` that is %s → BAD_FRAME', async (_what, data) => {
    const client = await connectFresh();
    await expectRawRejected(client, JSON.stringify({ event: 'ping', data }), 'BAD_FRAME');
  });

  it('`data` not an object, with a valid id → BAD_FRAME carrying replyTo = the id', async () => {
    const client = await connectFresh();
    await expectRawRejected(
      client,
      JSON.stringify({ event: 'task.start', data: 'write a poem', id: 'bad-data-1' }),
      'BAD_FRAME',
      'bad-data-1',
    );
  });

  it('unknown event → UNKNOWN_EVENT with replyTo = the id', async () => {
    const client = await connectFresh();
    const reply = expectEvent(await client.requestUnchecked('task.explode', {}), 'error');
    expectReplyShape(reply);
    expect(reply.data.code).toBe('UNKNOWN_EVENT');
    expect(typeof reply.data.message).toBe('string');
    await expectStillOpen(client);
  });

  it('unknown event without an id → UNKNOWN_EVENT with no replyTo', async () => {
    const client = await connectFresh();
    const err = await expectRawRejected(
      client,
      JSON.stringify({ event: 'session.snapshot', data: {} }),
      'UNKNOWN_EVENT',
    );
    expect(err.data).not.toHaveProperty('replyTo');
  });
});

describe('task.start validation (MAX_INPUT_CHARS=100)', () => {
  async function expectValidationFailed(client: TestClient, data: unknown): Promise<void> {
    const reply = expectEvent(await client.requestUnchecked('task.start', data, 10_000), 'error');
    expectReplyShape(reply);
    expect(reply.data.code).toBe('VALIDATION_FAILED');
    expect(typeof reply.data.message).toBe('string');
    await expectStillOpen(client);
  }

  it.each([
    ['missing text', {}],
    ['non-string text (number)', { text: 42 }],
    ['non-string text (array)', { text: ['hello'] }],
    ['non-string text (null)', { text: null }],
    ['empty text', { text: '' }],
    ['whitespace-only text', { text: ' \t\n  \r\n ' }],
    ['text one longer than MAX_INPUT_CHARS', { text: 'a'.repeat(MAX_INPUT_CHARS + 1) }],
    ['text longer than MAX_INPUT_CHARS after trimming', { text: `  ${'b'.repeat(MAX_INPUT_CHARS + 1)}  ` }],
  ])('%s → VALIDATION_FAILED with replyTo', async (_what, data) => {
    const client = await connectFresh();
    await expectValidationFailed(client, data);
    // Nothing was started: the session has no history.
    expect(client.durable()).toHaveLength(0);
  });

  it('text of exactly MAX_INPUT_CHARS after trimming is accepted', async () => {
    const client = await connectFresh();
    const text = `Explain ${'q'.repeat(MAX_INPUT_CHARS - 'Explain '.length)}`;
    expect(text).toHaveLength(MAX_INPUT_CHARS);
    const reply = expectEvent(await client.request('task.start', { text: `   ${text}\n\t ` }), 'ack');
    expectReplyShape(reply);
    expect(typeof reply.data.runId).toBe('string');
    const queued = await client.waitForEvent('run.queued', (f) => f.data.runId === reply.data.runId);
    expect(queued.data.input).toBe(text);
    await client.waitForEvent('run.completed', (f) => f.data.runId === reply.data.runId, 20_000);
    await expectStillOpen(client);
  });
});

describe('resume validation', () => {
  it.each([
    ['negative', -1],
    ['non-integer', 1.5],
    ['a numeric string', '3'],
    ['null', null],
  ])('afterSeq %s → VALIDATION_FAILED with replyTo', async (_what, afterSeq) => {
    const client = await connectFresh();
    const reply = expectEvent(await client.requestUnchecked('resume', { afterSeq }, 10_000), 'error');
    expectReplyShape(reply);
    expect(reply.data.code).toBe('VALIDATION_FAILED');
    await expectStillOpen(client);
  });

  it('missing afterSeq → VALIDATION_FAILED with replyTo', async () => {
    const client = await connectFresh();
    const reply = expectEvent(await client.requestUnchecked('resume', {}, 10_000), 'error');
    expect(reply.data.code).toBe('VALIDATION_FAILED');
    await expectStillOpen(client);
  });

  /** Runs one task to its end; resolves with the run.completed frame and the session's lastSeq. */
  async function completeOneRun(client: TestClient): Promise<{ done: FrameOf<'run.completed'>; lastSeq: number }> {
    const ack = await client.request('task.start', { text: 'List three facts about owls' });
    expect(ack.event).toBe('ack');
    const done = await client.waitForEvent('run.completed', undefined, 20_000);
    await client.waitForEvent('session.state', (f) => f.data.state === 'REFINEMENT_READY', 10_000);
    await expectStillOpen(client);
    const lastSeq = client.lastSeq();
    expect(lastSeq).toBeGreaterThanOrEqual(done.seq);
    return { done, lastSeq };
  }

  it('afterSeq beyond the last seq → RESUME_UNAVAILABLE, then a session.snapshot with the latest report', async () => {
    const client = await connectFresh();
    const { done, lastSeq } = await completeOneRun(client);

    const since = client.frames.length;
    client.send('resume', { afterSeq: lastSeq + 1000 }, 'resume-ahead-1');
    const err = await client.waitForEvent('error', (f) => f.data.code === 'RESUME_UNAVAILABLE', 10_000, since);
    expectReplyShape(err);
    expect(typeof err.data.message).toBe('string');
    const errIndex = client.frames.indexOf(err);
    const snap = await client.waitForEvent('session.snapshot', undefined, 10_000, errIndex + 1);
    expectReplyShape(snap);
    expect(snap.data.state).toBe('REFINEMENT_READY');
    expect(snap.data.lastSeq).toBe(lastSeq);
    expect(snap.data.report).toBe(done.data.report);
    await expectStillOpen(client);
    // Nothing was replayed or duplicated.
    expect(client.frames.slice(since).filter(isDurable)).toHaveLength(0);
    expect(client.lastSeq()).toBe(lastSeq);
  });

  it('the RESUME_UNAVAILABLE error answering a resume frame with an id carries replyTo = the id', async () => {
    const client = await connectFresh();
    const { lastSeq } = await completeOneRun(client);
    const since = client.frames.length;
    client.send('resume', { afterSeq: lastSeq + 1 }, 'resume-ahead-2');
    const err = await client.waitForEvent('error', (f) => f.data.code === 'RESUME_UNAVAILABLE', 10_000, since);
    expect(err.data.replyTo).toBe('resume-ahead-2');
    await expectStillOpen(client);
  });

  it('?lastSeq beyond the last seq on connect → RESUME_UNAVAILABLE, then a session.snapshot; the socket stays open', async () => {
    sessionCounter += 1;
    const client = await TestClient.connect(maws.wsUrl!, `frames-${sessionCounter}`, signToken('frames-ahead'), {
      lastSeq: 50,
    });
    const err = await client.waitForEvent('error', (f) => f.data.code === 'RESUME_UNAVAILABLE');
    expectReplyShape(err);
    const errIndex = client.frames.indexOf(err);
    const snap = await client.waitForEvent('session.snapshot', undefined, 10_000, errIndex + 1);
    expectReplyShape(snap);
    expect(snap.data.state).toBe('IDLE');
    expect(snap.data.lastSeq).toBe(0);
    await expectStillOpen(client);
  });
});

describe('frame size limit (MAX_FRAME_BYTES=4096)', () => {
  it('a valid frame just under the limit is served normally', async () => {
    const client = await connectFresh();
    // JSON whitespace pads a perfectly valid ping frame up to just below the limit.
    const head = '{"event":"ping","data":{}';
    const frame = `${head}${' '.repeat(MAX_FRAME_BYTES - head.length - 1 - 16)}}`;
    expect(Buffer.byteLength(frame)).toBe(MAX_FRAME_BYTES - 16);
    const since = client.frames.length;
    client.sendRaw(frame);
    const pong = await client.waitForEvent('pong', undefined, 10_000, since);
    expectReplyShape(pong);
    await expectStillOpen(client);
  });

  it('a frame larger than MAX_FRAME_BYTES closes the socket with 1009', async () => {
    const client = await connectFresh();
    const frame = JSON.stringify({ event: 'task.start', data: { text: 'z'.repeat(MAX_FRAME_BYTES + 100) } });
    expect(Buffer.byteLength(frame)).toBeGreaterThan(MAX_FRAME_BYTES);
    client.sendRaw(frame);
    const closed = await client.closed;
    expect(closed.code).toBe(1009);
    // No run was started from it.
    expect(client.durable()).toHaveLength(0);
  });

  it('the server keeps serving other sockets after closing an oversized one', async () => {
    const client = await connectFresh();
    await expectStillOpen(client);
  });
});
