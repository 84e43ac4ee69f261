/** Redis's own view of a measured interval: INFO commandstats, CPU, and SLOWLOG. */
import type { RedisClient } from '../../src/store/redis-connection';

export interface CommandStat {
  calls: number;
  usec: number;
  usecPerCall: number;
}

export interface RedisInterval {
  /** command → calls and Redis CPU spent in it (INFO commandstats, reset at the start). */
  commands: Record<string, CommandStat>;
  /** Redis main-thread CPU seconds (used_cpu_user + used_cpu_sys) over the interval. */
  cpuSeconds: number;
  /** Slowest commands of the interval (SLOWLOG, threshold set at the start). */
  slowlog: { usec: number; command: string }[];
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function redisCpu(redis: RedisClient): Promise<number> {
  const info = parseInfo(await redis.info('cpu'));
  return Number(info.used_cpu_user) + Number(info.used_cpu_sys);
}

/** Starts an interval: resets commandstats and the slowlog. Call `end()` on the result. */
export async function redisInterval(
  redis: RedisClient,
  slowerThanUs = 1000,
): Promise<{ end: () => Promise<RedisInterval> }> {
  await redis.config('SET', 'slowlog-log-slower-than', String(slowerThanUs));
  await redis.slowlog('RESET');
  await redis.config('RESETSTAT');
  const cpu0 = await redisCpu(redis);
  return {
    end: async () => {
      const cpu1 = await redisCpu(redis);
      const info = parseInfo(await redis.info('commandstats'));
      const commands: Record<string, CommandStat> = {};
      for (const [key, value] of Object.entries(info)) {
        if (!key.startsWith('cmdstat_')) continue;
        const f = Object.fromEntries(value.split(',').map((kv) => kv.split('=') as [string, string]));
        commands[key.slice(8)] = {
          calls: Number(f.calls),
          usec: Number(f.usec),
          usecPerCall: Number(f.usec_per_call),
        };
      }
      const raw = (await redis.slowlog('GET', 10)) as [number, number, number, (string | Buffer)[]][];
      const slowlog = raw.map(([, , usec, args]) => ({
        usec,
        command: args
          .slice(0, 4)
          .map((a) => String(a).slice(0, 40))
          .join(' '),
      }));
      return { commands, cpuSeconds: Math.round((cpu1 - cpu0) * 1000) / 1000, slowlog };
    },
  };
}

/** The few commands that cost Redis the most CPU, for a one-line summary. */
export function topCommands(stats: RedisInterval, n = 4): string {
  return Object.entries(stats.commands)
    .sort((a, b) => b[1].usec - a[1].usec)
    .slice(0, n)
    .map(([name, s]) => `${name} ${s.calls} calls ${s.usecPerCall.toFixed(1)}µs/call`)
    .join(', ');
}
