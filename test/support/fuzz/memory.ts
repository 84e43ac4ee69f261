/**
 * Fuzz support: the memory probe. The gateway's RSS (from /proc) and heap used (from
 * /metrics), measured after a full GC asked of V8 through the gateway's inspector.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { httpJson } from '../http';

export interface MemorySample {
  /** Resident set size, kB. */
  rss: number;
  /** V8 heap used, bytes. */
  heap: number;
}

export interface MemoryTarget {
  pid: number;
  /** The gateway's HTTP base URL (`/metrics` is read from it). */
  url: string;
  /** The gateway's inspector port (`--inspect=127.0.0.1:PORT`): used only to ask for a full GC. */
  inspectPort: number;
}

export class MemoryProbe {
  constructor(private readonly target: MemoryTarget) {}

  /** RSS and heap used after a full GC, the lowest of a few samples over `ms`. */
  async sample(ms = 1_500): Promise<MemorySample> {
    await this.collectGarbage();
    let rss = Infinity;
    let heap = Infinity;
    for (let i = 0; i < 5; i++) {
      rss = Math.min(rss, this.rssKb());
      heap = Math.min(heap, await this.heapUsed());
      await sleep(ms / 5);
    }
    return { rss, heap };
  }

  /**
   * Samples (over 1 s each, a second apart) until both figures are at most `limit`, for at most
   * `withinMs`; returns the last sample.
   */
  async settle(limit: MemorySample, withinMs: number): Promise<MemorySample> {
    let after = await this.sample(1_000);
    const settleStart = Date.now();
    while ((after.rss > limit.rss || after.heap > limit.heap) && Date.now() - settleStart < withinMs) {
      await sleep(1_000);
      after = await this.sample(1_000);
    }
    return after;
  }

  private rssKb(): number {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${this.target.pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for ${this.target.pid}`);
    return Number(m[1]);
  }

  private async heapUsed(): Promise<number> {
    const res = await httpJson('GET', `${this.target.url}/metrics`);
    const m = /^maws_nodejs_heap_size_used_bytes(?:\{[^}]*\})?\s+(\d+(?:\.\d+)?(?:e[+-]?\d+)?)/m.exec(res.text);
    if (!m) throw new Error('no maws_nodejs_heap_size_used_bytes in /metrics');
    return Number(m[1]);
  }

  /**
   * A full garbage collection in the gateway, through its inspector (HeapProfiler.collectGarbage),
   * so that heap figures compare live objects, not whatever garbage the last GC left.
   */
  private async collectGarbage(): Promise<void> {
    const list = await httpJson('GET', `http://127.0.0.1:${this.target.inspectPort}/json/list`);
    const target = (list.body as { webSocketDebuggerUrl: string }[])[0];
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      for (let id = 1; id <= 2; id++) {
        const reply = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no answer from the inspector')), 15_000);
          ws.on('message', (raw: Buffer) => {
            if ((JSON.parse(raw.toString('utf8')) as { id?: number }).id === id) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
        await reply;
      }
    } finally {
      ws.terminate();
    }
  }
}
