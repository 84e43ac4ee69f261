import { BusySessions } from './busy-sessions';

describe('BusySessions', () => {
  it('remembers sessions until forgotten, and only the most recent `capacity` of them', () => {
    const busy = new BusySessions(2);
    busy.add('a');
    busy.add('b');
    expect(busy.has('a')).toBe(true);
    busy.add('a'); // seen again: now the most recent
    busy.add('c'); // over capacity: the oldest, b, goes
    expect([busy.has('a'), busy.has('b'), busy.has('c')]).toEqual([true, false, true]);
    busy.delete('a');
    expect(busy.has('a')).toBe(false);
  });
});
