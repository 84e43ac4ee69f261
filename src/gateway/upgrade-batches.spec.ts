import { UpgradeBatches } from './upgrade-batches';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('UpgradeBatches', () => {
  it("gathers a burst's upgrades for gatherMs, then lets at most perTurn go on per event-loop turn, in order", async () => {
    const batches = new UpgradeBatches(20, 3);
    const order: number[] = [];
    const all = Array.from({ length: 7 }, (_, i) => batches.next().then(() => order.push(i)));
    await sleep(5);
    expect(order).toEqual([]); // still gathering
    expect(batches.backlog).toBe(7);
    while (order.length === 0) await turn();
    expect(order).toEqual([0, 1, 2]); // the batch's first slice
    await turn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5]); // the next turn's
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(batches.backlog).toBe(0);
  });

  it('starts over after a burst: a lone upgrade waits for a batch of its own', async () => {
    const batches = new UpgradeBatches(1, 2);
    await Promise.all([batches.next(), batches.next(), batches.next()]);
    let gone = false;
    const lone = batches.next().then(() => (gone = true));
    expect(gone).toBe(false);
    await lone;
    expect(batches.backlog).toBe(0);
  });
});
