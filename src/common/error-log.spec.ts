import { EventEmitter } from 'node:events';
import { ThrottledErrorLog, logErrorsOf, setErrorSink } from './error-log';

describe('ThrottledErrorLog', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    setErrorSink((_context, message) => lines.push(message));
  });

  it('logs the first error at once, then one line per interval counting what it left out', () => {
    let now = 1_000;
    const log = new ThrottledErrorLog('Redis', 'redis connection "commands"', 30_000, () => now);
    expect(log.report(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(true);
    for (let i = 0; i < 500; i++) {
      now += 10;
      log.report(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    }
    now += 30_000;
    expect(log.report(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(true);
    expect(lines).toEqual([
      'redis connection "commands": connect ECONNREFUSED 127.0.0.1:6379',
      'redis connection "commands": connect ECONNREFUSED 127.0.0.1:6379 (and 500 more since the last line)',
    ]);
  });

  it('masks secrets in what it logs', () => {
    const log = new ThrottledErrorLog('Redis', 'redis');
    log.report(new Error('cannot reach redis://user:hunter2@127.0.0.1:6379'));
    expect(lines[0]).not.toContain('hunter2');
  });

  it('listens to an emitter, so its errors neither crash the process nor vanish', () => {
    const emitter = logErrorsOf(new EventEmitter(), 'Queue', 'queue "resolver"');
    expect(() =>
      emitter.emit('error', new Error("READONLY You can't write against a read only replica.")),
    ).not.toThrow();
    expect(lines).toEqual(['queue "resolver": READONLY You can\'t write against a read only replica.']);
  });
});
