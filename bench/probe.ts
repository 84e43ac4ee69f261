/**
 * Preloaded (`--require`, or NODE_OPTIONS for a spawned MAWS process) into every server the
 * bench measures, MAWS and floors alike. With BENCH_PROBE_PORT set it serves, on 127.0.0.1:
 *   GET  /mem        → process.memoryUsage() after two full garbage collections
 *   GET  /rss        → process.memoryUsage() as it stands (no GC): a peak while something happens
 *   POST /cpu/start  → starts V8's CPU profiler (the one `node --cpu-prof` uses; that flag
 *                      is refused in NODE_OPTIONS, so the profiler is driven from here)
 *   POST /cpu/stop?file=PATH → stops it and writes the .cpuprofile to PATH
 *   POST /heap/snapshot?file=PATH → a full GC, then a heap snapshot written to PATH
 *   GET  /stalls     → GC pauses and event-loop delay since the last call (what makes tails)
 *   POST /alloc/start, /alloc/stop?file=PATH → sampled allocations (collected ones too) to PATH
 * It never keeps the process alive, and does nothing without BENCH_PROBE_PORT.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { collectGarbage } from './lib/util';

const port = Number(process.env.BENCH_PROBE_PORT ?? 0);

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise<T>((resolve, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

if (port > 0) {
  let session: Session | undefined;
  let allocSession: Session | undefined;
  // GC pauses (kind 1 = minor, 4 = mark-compact) and the event loop's delay, since /stalls was last read.
  let gcs: { kind: number; ms: number }[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as PerformanceEntry & { detail?: { kind?: number } }).detail;
      gcs.push({ kind: detail?.kind ?? 0, ms: e.duration });
    }
  }).observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const stalls = (): object => {
    const sum = (list: { ms: number }[]): number => list.reduce((n, g) => n + g.ms, 0);
    const major = gcs.filter((g) => g.kind === 4);
    const out = {
      gcCount: gcs.length,
      gcTotalMs: Math.round(sum(gcs) * 100) / 100,
      gcMaxMs: Math.round(Math.max(0, ...gcs.map((g) => g.ms)) * 100) / 100,
      majorGcCount: major.length,
      majorGcMaxMs: Math.round(Math.max(0, ...major.map((g) => g.ms)) * 100) / 100,
      loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100,
      loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
    };
    gcs = [];
    loop.reset();
    return out;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://probe');
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      try {
        if (url.pathname === '/mem') {
          collectGarbage();
          await new Promise((r) => setImmediate(r));
          collectGarbage();
          answer(200, process.memoryUsage());
        } else if (url.pathname === '/rss') {
          // As it stands, no GC first: a peak while something happens (the storm's surviving gateway).
          answer(200, process.memoryUsage());
        } else if (url.pathname === '/cpu/start') {
          session = new Session();
          session.connect();
          await post(session, 'Profiler.enable');
          await post(session, 'Profiler.setSamplingInterval', { interval: Number(url.searchParams.get('us') ?? 500) });
          await post(session, 'Profiler.start');
          answer(200, { started: true });
        } else if (url.pathname === '/cpu/stop' && session) {
          const { profile } = await post<{ profile: unknown }>(session, 'Profiler.stop');
          session.disconnect();
          session = undefined;
          const file = url.searchParams.get('file') ?? `/tmp/bench-${process.pid}.cpuprofile`;
          writeFileSync(file, JSON.stringify(profile));
          answer(200, { file });
        } else if (url.pathname === '/alloc/start') {
          // Allocation sampling, the collected objects counted too: what makes the GC's work.
          allocSession = new Session();
          allocSession.connect();
          await post(allocSession, 'HeapProfiler.enable');
          await post(allocSession, 'HeapProfiler.startSampling', {
            samplingInterval: 4096,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          });
          answer(200, { started: true });
        } else if (url.pathname === '/alloc/stop' && allocSession) {
          const { profile } = await post<{ profile: unknown }>(allocSession, 'HeapProfiler.stopSampling');
          allocSession.disconnect();
          allocSession = undefined;
          const file = url.searchParams.get('file') ?? `/tmp/bench-${process.pid}.heapprofile`;
          writeFileSync(file, JSON.stringify(profile));
          answer(200, { file });
        } else if (url.pathname === '/stalls') {
          answer(200, stalls());
        } else if (url.pathname === '/heap/snapshot') {
          collectGarbage();
          const file = writeHeapSnapshot(url.searchParams.get('file') ?? undefined);
          answer(200, { file });
        } else {
          answer(404, { error: 'unknown probe path' });
        }
      } catch (err) {
        answer(500, { error: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
  server.on('error', (err) => console.error(`bench probe: ${err.message}`));
  server.listen(port, '127.0.0.1');
  server.unref();
}
