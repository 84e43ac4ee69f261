import { StartAdmission } from './start-admission';

/** A task that stays running until its `finish` is called. */
function deferred(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
    },
    finish,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StartAdmission', () => {
  it('runs at most `concurrency` at once and admits the rest in arrival order', async () => {
    const admission = new StartAdmission(2);
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => deferred(log, n));
    const owners = [{}, {}, {}, {}];
    const all = [a, b, c, d].map((t, i) => admission.run(owners[i], t.task));
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    expect(admission.hasWaiting(owners[2])).toBe(true);
    b.finish();
    await tick();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);
    expect(admission.hasWaiting(owners[2])).toBe(false);
    a.finish();
    c.finish();
    await tick();
    d.finish();
    await Promise.all(all);
    expect(log.filter((l) => l.startsWith('start'))).toEqual(['start a', 'start b', 'start c', 'start d']);
  });

  it("keeps one owner's commands in order: a later one waits while an earlier one waits", async () => {
    const admission = new StartAdmission(1);
    const log: string[] = [];
    const busy = deferred(log, 'other');
    const socket = {};
    const running = admission.run({}, busy.task);
    const start = admission.run(socket, () => Promise.resolve(log.push('start')));
    expect(admission.hasWaiting(socket)).toBe(true);
    busy.finish();
    await Promise.all([running, start]);
    expect(log).toEqual(['start other', 'end other', 'start']);
    expect(admission.hasWaiting(socket)).toBe(false);
  });

  it('a failing task frees its place and its error reaches the caller', async () => {
    const admission = new StartAdmission(1);
    await expect(admission.run({}, () => Promise.reject(new Error('INVALID_STATE')))).rejects.toThrow('INVALID_STATE');
    await expect(admission.run({}, () => Promise.resolve('next'))).resolves.toBe('next');
  });
});
