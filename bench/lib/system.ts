/** Facts about this machine and its processes: versions, CPU model, per-process CPU time. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { REDIS_SERVER_BIN } from '../../test/support/redis-server';

export interface MachineInfo {
  node: string;
  redis: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  loadavg: number[];
  openFilesLimit: number | null;
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':')[1].trim();
  } catch {
    /* not Linux */
  }
  let redis = 'unknown';
  try {
    redis = /v=(\S+)/.exec(execFileSync(REDIS_SERVER_BIN, ['--version']).toString())?.[1] ?? redis;
  } catch {
    /* reported as unknown */
  }
  return {
    node: process.version,
    redis,
    nproc: os.availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    openFilesLimit: openFilesLimit(),
  };
}

/** This process's soft RLIMIT_NOFILE (a child shell inherits it), or null when unknown. */
export function openFilesLimit(kind: 'soft' | 'hard' = 'soft'): number | null {
  try {
    const out = execFileSync('sh', ['-c', kind === 'soft' ? 'ulimit -Sn' : 'ulimit -Hn'])
      .toString()
      .trim();
    return out === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(out);
  } catch {
    return null;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** A process's write syscalls so far (/proc/PID/io), or 0 where that cannot be read. */
export function writeSyscalls(pid: number | undefined): number {
  try {
    return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc; null when gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Resident set size in bytes, from /proc; null when gone. */
export function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU used by named processes between `start()` and `stop()`, as cores busy (1 = one full core). */
export class CpuMeter {
  private readonly before = new Map<string, number | null>();
  private t0 = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  start(): void {
    this.t0 = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) this.before.set(name, cpuSeconds(pid));
  }

  /** name → {cpuSeconds, cores} over the interval. */
  stop(): Record<string, { cpuSeconds: number; cores: number }> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, { cpuSeconds: number; cores: number }> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const a = this.before.get(name);
      const b = cpuSeconds(pid);
      if (a === null || a === undefined || b === null) continue;
      const used = b - a;
      out[name] = { cpuSeconds: Math.round(used * 1000) / 1000, cores: Math.round((used / seconds) * 100) / 100 };
    }
    return out;
  }
}
