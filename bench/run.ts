/**
 * `npm run bench`: MAWS beside its floors, measured in one run on one machine (issue 7).
 *
 *   npm run bench                 full run (about 18 minutes on 2 cores, 11 of them the scaling table), updates docs/benchmarks.md
 *   npm run bench -- --quick      about 5 minutes, same workloads with shorter windows
 *   npm run bench -- --smoke      tiny sizes, checks that everything works (the e2e test uses it)
 * Options: --only relay,connections,runs,store-full,tools,mcp,replanning,waiting,steering,sessions,client,agui,tracing,storage,scaling,cluster,storm   --out FILE   --docs | --no-docs   --profile
 *          --batch N (events per append, default 10)   --clients N (relay client processes)
 *          --worker-concurrency N
 *
 * Every process it starts (redis-server, MAWS gateway and workers, clients, floor servers)
 * is stopped at the end, also on failure or Ctrl-C.
 */
import { ROOT } from './lib/env';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRedis } from '../test/support/redis-server';
import { Ctx, describeError, SIZES, WORKLOADS, type Mode, type Options, type Workload } from './lib/context';
import { resultsBlock, updateDocs } from './lib/docs';
import { machineInfo, openFilesLimit } from './lib/system';
import { consoleTable } from './lib/table';
import { connectionsWorkload } from './workloads/connections';
import { relayWorkload } from './workloads/relay';
import { clusterWorkload } from './workloads/cluster';
import { runsWorkload } from './workloads/runs';
import { storeFullWorkload } from './workloads/store-full';
import { toolsWorkload } from './workloads/tools';
import { mcpWorkload } from './workloads/mcp';
import { replanningWorkload } from './workloads/replanning';
import { waitingWorkload } from './workloads/waiting';
import { steeringWorkload } from './workloads/steering';
import { sessionsWorkload } from './workloads/sessions';
import { aguiWorkload } from './workloads/agui';
import { clientWorkload } from './workloads/client';
import { tracingWorkload } from './workloads/tracing';
import { storageWorkload } from './workloads/storage';
import { scalingWorkload } from './workloads/scaling';
import { stormWorkload } from './workloads/storm';

function usage(): never {
  console.log(
    'usage: node build-tools/bench/run.js [--quick|--smoke] [--only relay,connections,runs,store-full,tools,mcp,replanning,waiting,steering,sessions,client,agui,tracing,storage,scaling,cluster,storm] [--out FILE]\n' +
      '       [--docs|--no-docs] [--profile[=alloc]] [--batch N] [--clients N] [--worker-concurrency N]',
  );
  process.exit(0);
}

function parseArgs(argv: string[]): Options {
  let mode: Mode = 'full';
  let only: Set<Workload> | undefined;
  let out = path.join(ROOT, 'bench', 'results', 'latest.json');
  let docs: boolean | undefined;
  let profile: Options['profile'] = false;
  let batch = 10;
  let clients = 1;
  let workerConcurrency: number | undefined;
  const num = (v: string | undefined, name: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a whole number ≥ 1`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = (): string => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        mode = 'quick';
        break;
      case '--smoke':
        mode = 'smoke';
        break;
      case '--full':
        mode = 'full';
        break;
      case '--only': {
        const names = value()
          .split(',')
          .map((s) => s.trim());
        for (const n of names) if (!WORKLOADS.includes(n as Workload)) throw new Error(`--only: unknown workload ${n}`);
        only = new Set(names as Workload[]);
        break;
      }
      case '--out':
        out = path.resolve(value());
        break;
      case '--docs':
        docs = true;
        break;
      case '--no-docs':
        docs = false;
        break;
      case '--profile':
        // --profile: CPU profiles; --profile=alloc: sampled allocations instead (connections).
        profile = inline === 'alloc' ? 'alloc' : 'cpu';
        break;
      case '--batch':
        batch = num(value(), '--batch');
        break;
      case '--clients':
        clients = num(value(), '--clients');
        break;
      case '--worker-concurrency':
        workerConcurrency = num(value(), '--worker-concurrency');
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (try --help)`);
    }
  }
  only ??= new Set(WORKLOADS);
  return {
    mode,
    only,
    out,
    docs: docs ?? (mode === 'full' && only.size === WORKLOADS.length),
    profile,
    batch,
    clients,
    workerConcurrency,
  };
}

/**
 * Sockets need file descriptors on both ends (the client and the server are children, and
 * inherit this process's limit). Node cannot raise its own RLIMIT_NOFILE, so when the soft
 * limit is too low and the hard one allows it, the bench re-runs itself under `ulimit -n`.
 * Returns how many idle sockets the limit allows.
 */
function ensureOpenFiles(wanted: number): number {
  const need = wanted + 2000;
  const soft = openFilesLimit('soft') ?? need;
  if (soft >= need) return wanted;
  const hard = openFilesLimit('hard') ?? soft;
  if (hard > soft && !process.env.BENCH_ULIMIT_RAISED) {
    const limit = Math.min(hard, Math.max(need, 65_536));
    console.error(`[bench] ulimit -n is ${soft}; re-running with ulimit -n ${limit}`);
    const r = spawnSync(
      'sh',
      ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)],
      { stdio: 'inherit', env: { ...process.env, BENCH_ULIMIT_RAISED: '1' } },
    );
    process.exit(r.status ?? 1);
  }
  return Math.max(100, Math.min(wanted, soft - 2000));
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const sizes = { ...SIZES[opts.mode] };
  const maxSockets = Math.max(...sizes.connections);
  let connNote: string | undefined;
  if (opts.only.has('connections') || opts.only.has('storm')) {
    const allowed = ensureOpenFiles(maxSockets);
    if (allowed < maxSockets) {
      connNote = `ulimit -n allows only ${allowed} sockets here (hard limit); raise it to measure ${maxSockets}`;
      sizes.connections = sizes.connections.map((n) => Math.min(n, allowed));
    }
  }
  const started = new Date();
  const machine = machineInfo();
  const args = process.argv.slice(2);
  const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  console.log(
    `MAWS bench (${opts.mode}): Node ${machine.node}, Redis ${machine.redis}, ${machine.nproc} × ${machine.cpuModel}, ` +
      `load ${machine.loadavg.join(' ')}, ulimit -n ${machine.openFilesLimit}`,
  );
  if (machine.loadavg[0] > machine.nproc * 0.5) {
    console.log(
      `note: the machine is busy (load ${machine.loadavg[0]} on ${machine.nproc} cores): figures will be noisy`,
    );
  }

  const redis = await startRedis();
  // CPU profiles and heap snapshots (--profile) are large: they stay out of the repository.
  const profileDir = opts.profile ? mkdtempSync(path.join(os.tmpdir(), 'maws-bench-profiles-')) : os.tmpdir();
  if (opts.profile) console.log(`profiles and heap snapshots go to ${profileDir}`);
  const ctx = new Ctx(opts, sizes, redis, profileDir);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\n[bench] ${signal}: stopping every process the bench started`);
    const hard = setTimeout(() => process.exit(130), 15_000);
    void ctx.cleanup().finally(() => {
      clearTimeout(hard);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => ctx.killSync());

  const run: Record<Workload, () => Promise<void>> = {
    relay: () => relayWorkload(ctx),
    connections: () => connectionsWorkload(ctx, sizes.connections, connNote),
    runs: () => runsWorkload(ctx),
    'store-full': () => storeFullWorkload(ctx),
    tools: () => toolsWorkload(ctx),
    mcp: () => mcpWorkload(ctx),
    replanning: () => replanningWorkload(ctx),
    waiting: () => waitingWorkload(ctx),
    steering: () => steeringWorkload(ctx),
    sessions: () => sessionsWorkload(ctx),
    client: () => clientWorkload(ctx),
    agui: () => aguiWorkload(ctx),
    tracing: () => tracingWorkload(ctx),
    storage: () => storageWorkload(ctx),
    scaling: () => scalingWorkload(ctx),
    cluster: () => clusterWorkload(ctx),
    storm: () => stormWorkload(ctx),
  };
  try {
    for (const w of WORKLOADS) {
      if (!opts.only.has(w)) continue;
      const t0 = Date.now();
      try {
        await run[w]();
      } catch (err) {
        ctx.failures.push({ workload: w, error: describeError(err) });
        console.error(`[bench] ${w} failed: ${describeError(err)}`);
      }
      ctx.log(`${w} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await ctx.cleanup();
  }

  const durationSec = Math.round((Date.now() - started.getTime()) / 100) / 10;
  const notes: string[] = [];
  if (machine.loadavg[0] > machine.nproc * 0.5) {
    notes.push(
      `The machine was busy at the start (load average ${machine.loadavg[0]} on ${machine.nproc} cores): absolute figures are noisy; ratios less so.`,
    );
  }
  if (opts.mode !== 'full') notes.push(`A --${opts.mode} run: shorter windows than the full bench.`);
  for (const f of ctx.failures) notes.push(`The ${f.workload} workload failed: ${f.error.split('\n')[0]}`);

  console.log(
    consoleTable(
      'Summary: every target',
      ctx.rows.filter((r) => r.targetText),
    ),
  );
  const results = {
    command,
    date: started.toISOString(),
    mode: opts.mode,
    durationSec,
    machine,
    options: { ...opts, only: [...opts.only] },
    sizes,
    rows: ctx.rows,
    details: ctx.details,
    failures: ctx.failures,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(`${opts.out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(`${opts.out}.tmp`, opts.out);
  console.log(`\nresults: ${path.relative(process.cwd(), opts.out) || opts.out} (${durationSec} s)`);
  if (opts.docs) {
    const docs = path.join(ROOT, 'docs', 'benchmarks.md');
    await updateDocs(docs, resultsBlock(command, results.date, machine, ctx.rows, notes));
    console.log(`docs: ${path.relative(process.cwd(), docs)}`);
  }
  if (ctx.failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`[bench] ${describeError(err)}`);
  process.exit(1);
});
