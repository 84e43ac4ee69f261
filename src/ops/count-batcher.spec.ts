import type { ModelUsageRecord } from './cluster-metrics';
import { CountBatcher } from './count-batcher';

const record = (agent: string, inputTokens: number): ModelUsageRecord => ({
  provider: 'offline',
  model: 'offline',
  agent,
  inputTokens,
  outputTokens: 1,
});

describe('CountBatcher', () => {
  it('hands on the calls of one interval in one write, in order', async () => {
    const writes: ModelUsageRecord[][] = [];
    const batcher = new CountBatcher<ModelUsageRecord>((records) => {
      writes.push(records);
      return Promise.resolve();
    }, 50);
    batcher.add(record('planner', 1));
    batcher.add(record('executor', 2));
    batcher.add(record('aggregator', 3));
    expect(writes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(writes.map((w) => w.map((r) => r.inputTokens))).toEqual([[1, 2, 3]]);
    batcher.add(record('clarifier', 4));
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(writes.map((w) => w.map((r) => r.inputTokens))).toEqual([[1, 2, 3], [4]]);
  });

  it('flush writes what is held at once and waits for it; a failed write is not thrown', async () => {
    const writes: ModelUsageRecord[][] = [];
    let fail = true;
    const batcher = new CountBatcher<ModelUsageRecord>((records) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error('redis is down'));
      }
      writes.push(records);
      return Promise.resolve();
    }, 60_000);
    batcher.add(record('planner', 1));
    await expect(batcher.flush()).resolves.toBeUndefined();
    batcher.add(record('executor', 2));
    await batcher.flush();
    expect(writes.map((w) => w.map((r) => r.agent))).toEqual([['executor']]);
    await batcher.flush();
    expect(writes).toHaveLength(1);
  });
});

describe('CountBatcher while writes are refused for now', () => {
  it('keeps the records of a write that failed for a passing reason and writes them with the next', async () => {
    const written: number[][] = [];
    let refuse = true;
    const batcher = new CountBatcher<ModelUsageRecord>(
      (records) => {
        if (refuse) return Promise.reject(new Error('OOM command not allowed'));
        written.push(records.map((r) => r.inputTokens));
        return Promise.resolve();
      },
      20,
      (err) => err instanceof Error && err.message.startsWith('OOM'),
    );
    batcher.add(record('planner', 1));
    await new Promise((resolve) => setTimeout(resolve, 60));
    batcher.add(record('executor', 2));
    refuse = false;
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(written).toEqual([[1, 2]]);
  });
});
