import { TurnBudget } from './turn-budget';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TurnBudget', () => {
  it('lets at most perTurn waiters go on per event-loop turn, in order', async () => {
    const budget = new TurnBudget(3);
    const order: number[] = [];
    const all = Array.from({ length: 7 }, (_, i) => budget.next().then(() => order.push(i)));
    expect(budget.backlog).toBe(7);
    await turn();
    expect(order).toEqual([0, 1, 2]);
    await turn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(budget.backlog).toBe(0);
  });

  it('starts over after a burst: a lone waiter goes on in the next turn', async () => {
    const budget = new TurnBudget(2);
    await Promise.all([budget.next(), budget.next(), budget.next()]);
    let gone = false;
    const lone = budget.next().then(() => (gone = true));
    expect(gone).toBe(false);
    await lone;
    expect(budget.backlog).toBe(0);
  });
});
