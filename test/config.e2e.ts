/**
 * End-to-end: start-up configuration and process lifecycle (/work/shared/protocol.md,
 * "Processes"). A bad value stops the process with a message naming the variable; an unknown
 * role exits 2; SIGTERM closes sockets with 1001 and exits 0.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { runMawsOnce, startMaws, type MawsEnv, type RunOnceResult } from './support/maws-process';
import { getFreePort, startRedis, type RedisServer } from './support/redis-server';
import { connect } from './support/session';
import { setUpSuite } from './support/suite';
import { signToken } from './support/tokens';

jest.setTimeout(30_000);

let redis: RedisServer;
/** A port nothing listens on: a process that wrongly started would not find Redis there. */
let deadRedisUrl: string;

setUpSuite(async () => {
  redis = await startRedis();
  deadRedisUrl = `redis://127.0.0.1:${await getFreePort()}`;
});

/** Runs `node dist/main.js ...args` and returns the result plus stdout+stderr together. */
async function runOnce(args: string[], env: MawsEnv): Promise<RunOnceResult & { output: string }> {
  // A bound for a hang, not a speed check: a loaded machine can take seconds to load the modules.
  const result = await runMawsOnce(args, { REDIS_URL: deadRedisUrl, ...env }, 30_000);
  return { ...result, output: `${result.stdout}\n${result.stderr}` };
}

/** Expects a start-up refusal: a non-zero exit (not a crash by signal) naming every variable. */
async function expectRefused(env: MawsEnv, names: string[], args = ['all']): Promise<string> {
  const result = await runOnce(args, env);
  expect(result.signal).toBeNull();
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  for (const name of names) expect(result.output).toContain(name);
  // A message, not a stack trace.
  expect(result.output).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);
  return result.output;
}

describe('configuration is validated at start-up', () => {
  it('PORT=abc → exits non-zero, naming PORT', async () => {
    await expectRefused({ PORT: 'abc' }, ['PORT']);
  });

  it('PORT=70000 → exits non-zero, naming PORT', async () => {
    await expectRefused({ PORT: '70000' }, ['PORT']);
  });

  it('REDIS_URL=http://x → exits non-zero, naming REDIS_URL', async () => {
    await expectRefused({ REDIS_URL: 'http://x' }, ['REDIS_URL']);
  });

  it('LOG_LEVEL=bogus or LOG_FORMAT=xml → exits non-zero, naming the variable', async () => {
    await expectRefused({ LOG_LEVEL: 'bogus' }, ['LOG_LEVEL']);
    await expectRefused({ LOG_FORMAT: 'xml' }, ['LOG_FORMAT']);
  });

  it('LLM_PROVIDER=banana → exits non-zero, naming LLM_PROVIDER', async () => {
    await expectRefused({ LLM_PROVIDER: 'banana' }, ['LLM_PROVIDER']);
  });

  it.each([
    ['openai', 'OPENAI_API_KEY'],
    ['anthropic', 'ANTHROPIC_API_KEY'],
  ])('LLM_PROVIDER=%s without a key → exits non-zero, naming LLM_API_KEY and %s', async (provider, own) => {
    await expectRefused({ LLM_PROVIDER: provider, LLM_API_KEY: undefined, [own]: undefined, REDIS_URL: redis.url }, [
      'LLM_API_KEY',
      own,
    ]);
  });

  it('LLM_PROVIDER=openai-compatible without LLM_BASE_URL → exits non-zero, naming LLM_BASE_URL', async () => {
    await expectRefused({ LLM_PROVIDER: 'openai-compatible', LLM_MODEL: 'llama3.1', REDIS_URL: redis.url }, [
      'LLM_BASE_URL',
    ]);
  });

  it('JWT_SECRET unset and AUTH_DEV_TOKENS unset → exits non-zero, naming JWT_SECRET', async () => {
    await expectRefused({ JWT_SECRET: undefined, AUTH_DEV_TOKENS: undefined }, ['JWT_SECRET']);
  });

  it('JWT_SECRET too short → exits non-zero, naming JWT_SECRET without printing its value', async () => {
    const secret = 'Sh0rtS3cr3tXq';
    expect(secret.length).toBeLessThan(16);
    const output = await expectRefused({ JWT_SECRET: secret }, ['JWT_SECRET']);
    expect(output).not.toContain(secret);
  });

  it('OFFLINE_TOKEN_DELAY_MS=-1 → exits non-zero, naming OFFLINE_TOKEN_DELAY_MS', async () => {
    await expectRefused({ OFFLINE_TOKEN_DELAY_MS: '-1' }, ['OFFLINE_TOKEN_DELAY_MS']);
  });

  it('OFFLINE_TOKEN_DELAY_MS=fast → exits non-zero, naming OFFLINE_TOKEN_DELAY_MS', async () => {
    await expectRefused({ OFFLINE_TOKEN_DELAY_MS: 'fast' }, ['OFFLINE_TOKEN_DELAY_MS']);
  });

  it('ADMIN_USER without ADMIN_PASSWORD → exits non-zero, naming both', async () => {
    await expectRefused({ ADMIN_USER: 'ops', ADMIN_PASSWORD: undefined }, ['ADMIN_USER', 'ADMIN_PASSWORD']);
  });

  it('ADMIN_PASSWORD without ADMIN_USER → exits non-zero, naming both, without printing the password', async () => {
    const password = 'Pa55-w0rd-never-printed';
    const output = await expectRefused({ ADMIN_USER: undefined, ADMIN_PASSWORD: password }, [
      'ADMIN_USER',
      'ADMIN_PASSWORD',
    ]);
    expect(output).not.toContain(password);
  });

  it.each([
    ['WORKER_CONCURRENCY', 'many'],
    ['MAX_FRAME_BYTES', '-5'],
    ['MAX_INPUT_CHARS', '0'],
    ['AUTH_DEV_TOKENS', 'maybe'],
  ])('%s=%s → exits non-zero, naming it', async (name, value) => {
    await expectRefused({ [name]: value }, [name]);
  });

  it('the gateway and worker roles validate too', async () => {
    await expectRefused({ PORT: 'abc' }, ['PORT'], ['gateway']);
    await expectRefused({ LLM_PROVIDER: 'banana' }, ['LLM_PROVIDER'], ['worker']);
  });

  it('several bad values → every one is named', async () => {
    await expectRefused({ PORT: 'abc', LLM_PROVIDER: 'banana', OFFLINE_TOKEN_DELAY_MS: '-1' }, [
      'PORT',
      'LLM_PROVIDER',
      'OFFLINE_TOKEN_DELAY_MS',
    ]);
  });
});

describe('roles', () => {
  it('an unknown role (`node dist/main.js banana`) exits with code 2, listing all, gateway, worker', async () => {
    const result = await runOnce(['banana'], {});
    expect(result.signal).toBeNull();
    expect(result.code).toBe(2);
    expect(result.output).toContain('banana');
    for (const role of ['all', 'gateway', 'worker']) expect(result.output).toMatch(new RegExp(`\\b${role}\\b`));
  });
});

/** The nice value of each thread of `pid` (Linux keeps them per thread), from /proc. */
function threadNices(pid: number): { tid: number; nice: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, nice field 19.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(tid), nice: Number(fields[19 - 3]) };
  });
}

describe('worker run thread priority', () => {
  it('a `worker` lowers its run (main) thread to WORKER_RUN_NICE, default 10; its other threads keep 0', async () => {
    const worker = await startMaws('worker', { REDIS_URL: redis.url });
    const threads = threadNices(worker.pid!);
    expect(threads.find((t) => t.tid === worker.pid)?.nice).toBe(10);
    expect(threads.filter((t) => t.tid !== worker.pid).every((t) => t.nice === 0)).toBe(true);
    expect(worker.output()).toContain('run thread at nice 10');
    await worker.stop('SIGTERM', 15_000);
  });

  it('WORKER_RUN_NICE=0 leaves it alone; the `all` role never lowers it', async () => {
    const worker = await startMaws('worker', { REDIS_URL: redis.url, WORKER_RUN_NICE: '0' });
    expect(threadNices(worker.pid!).find((t) => t.tid === worker.pid)?.nice).toBe(0);
    await worker.stop('SIGTERM', 15_000);
    const all = await startMaws('all', { REDIS_URL: redis.url });
    expect(threadNices(all.pid!).find((t) => t.tid === all.pid)?.nice).toBe(0);
    await all.stop('SIGTERM', 15_000);
  });

  it('WORKER_RUN_NICE=20 → exits non-zero, naming WORKER_RUN_NICE', async () => {
    await expectRefused({ WORKER_RUN_NICE: '20', JWT_SECRET: 'x'.repeat(32) }, ['WORKER_RUN_NICE'], ['worker']);
  });
});

describe('SIGTERM', () => {
  it('on a running `all` process: open sockets are closed with 1001 first, then it exits 0', async () => {
    const maws = await startMaws('all', { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '0' });
    const clients = await Promise.all(
      ['term-1', 'term-2'].map(async (sid) => (await connect(maws, sid, signToken(`user-${sid}`))).client),
    );
    // Work has been done on one of them, so the process is not idle.
    const ack = await clients[0].request('task.start', { text: 'Explain photosynthesis briefly' });
    expect(ack.event).toBe('ack');
    await clients[0].waitForEvent('run.completed', undefined, 20_000);

    const order: string[] = [];
    const closes = clients.map((c, i) =>
      c.closed.then((info) => {
        order.push(`socket${i}`);
        return info;
      }),
    );
    const exited = maws.exited.then((info) => {
      order.push('exit');
      return info;
    });

    const info = await maws.stop('SIGTERM', 15_000);
    expect(info.signal).toBeNull();
    expect(info.code).toBe(0);
    await exited;
    const closeInfos = await Promise.all(closes);
    for (const c of closeInfos) expect(c.code).toBe(1001);
    expect(order[order.length - 1]).toBe('exit');
  });

  it('on a running `worker` process: exits 0', async () => {
    const worker = await startMaws('worker', { REDIS_URL: redis.url });
    const info = await worker.stop('SIGTERM', 15_000);
    expect(info.signal).toBeNull();
    expect(info.code).toBe(0);
  });

  it('on a running `gateway` process with a socket open: 1001, then exit 0', async () => {
    const gw = await startMaws('gateway', { REDIS_URL: redis.url });
    const { client: c } = await connect(gw, 'term-gw', signToken('gw-user'));
    const info = await gw.stop('SIGTERM', 15_000);
    expect(info.code).toBe(0);
    expect((await c.closed).code).toBe(1001);
  });
});
