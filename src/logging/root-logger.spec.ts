import { Writable } from 'node:stream';
import { withLogContext } from './log-context';
import { createRootLogger } from './root-logger';

/** A logger writing into an array of parsed lines. */
function capture(level = 'log'): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createRootLogger> } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createRootLogger({ level, format: 'json', role: 'worker' }, sink) };
}

describe('createRootLogger', () => {
  it('writes JSON lines with level, ISO time, role and pid', () => {
    const { lines, logger } = capture();
    logger.info({ context: 'Test' }, 'hello');
    expect(lines).toEqual([
      {
        level: 'info',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        role: 'worker',
        pid: process.pid,
        context: 'Test',
        msg: 'hello',
      },
    ]);
  });

  it('adds the log context of the code that logs, inner values over outer ones, and nothing outside it', async () => {
    const { lines, logger } = capture();
    await withLogContext({ runId: 'r1', session: 'u.s1' }, async () => {
      logger.info('in the run');
      await withLogContext({ stepId: 'exec-1', agent: 'executor', attempt: 2 }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        logger.info('in the step, after an await');
      });
    });
    logger.info('outside');
    expect(
      lines.map(({ runId, session, stepId, agent, attempt, msg }) => ({ runId, session, stepId, agent, attempt, msg })),
    ).toEqual([
      { runId: 'r1', session: 'u.s1', stepId: undefined, agent: undefined, attempt: undefined, msg: 'in the run' },
      {
        runId: 'r1',
        session: 'u.s1',
        stepId: 'exec-1',
        agent: 'executor',
        attempt: 2,
        msg: 'in the step, after an await',
      },
      { runId: undefined, session: undefined, stepId: undefined, agent: undefined, attempt: undefined, msg: 'outside' },
    ]);
  });

  it('censors fields that could hold user text, model output or secrets', () => {
    const { lines, logger } = capture();
    logger.info(
      { text: 'the task', token: 'eyJ...', req: { headers: { authorization: 'Bearer x' } }, job: { prompt: 'p' } },
      'm',
    );
    expect(lines[0]).toMatchObject({
      text: '[redacted]',
      token: '[redacted]',
      req: { headers: { authorization: '[redacted]' } },
      job: { prompt: '[redacted]' },
    });
  });

  it('takes Nest level names: at `warn`, info lines are left out', () => {
    const { lines, logger } = capture('warn');
    logger.info('no');
    logger.warn('yes');
    expect(lines.map((l) => l.msg)).toEqual(['yes']);
  });
});
