/**
 * Spreads a burst of work over event-loop turns: at most `perTurn` waiters go on per turn,
 * the rest in the following turns, in order. Between turns the loop polls I/O, so a storm of
 * reconnecting sockets (thousands of upgrades arriving in the same few milliseconds) cannot
 * hold up a live socket's ping or a session's events for the whole burst.
 */
export class TurnBudget {
  private waiting: (() => void)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(private readonly perTurn: number) {}

  /** Resolves in this turn's share or a later one's. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.release);
      }
    });
  }

  /** Waiters not yet let go. */
  get backlog(): number {
    return this.waiting.length - this.head;
  }

  private readonly release = (): void => {
    const end = Math.min(this.waiting.length, this.head + this.perTurn);
    while (this.head < end) this.waiting[this.head++]();
    if (this.head < this.waiting.length) {
      // An immediate set while immediates run goes in the next turn, after the loop has polled I/O.
      setImmediate(this.release);
      return;
    }
    this.waiting = [];
    this.head = 0;
    this.scheduled = false;
  };
}
