/**
 * Admits run-starting commands a few at a time. A burst of starts (hundreds of sessions
 * beginning at once) would otherwise hold the gateway's event loop and its Redis connections
 * for as long as all of them take, and a chat message or a cancel arriving meanwhile would
 * wait behind every one; admitted a few at a time, those slip in between.
 *
 * A socket's commands keep their order: while one of its commands waits here, its later
 * commands (of any kind) wait behind it.
 */
export class StartAdmission {
  private readonly waiting: Array<{ owner: object; go: () => void }> = [];
  private readonly queuedOf = new WeakMap<object, number>();
  private running = 0;

  constructor(private readonly concurrency: number) {}

  /** Whether `owner` has a command waiting, which its next command must follow. */
  hasWaiting(owner: object): boolean {
    return (this.queuedOf.get(owner) ?? 0) > 0;
  }

  /** Runs `task` now if there is room and nothing waits, else after what waits before it. */
  async run<T>(owner: object, task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency || this.waiting.length > 0) {
      this.queuedOf.set(owner, (this.queuedOf.get(owner) ?? 0) + 1);
      // admitNext counts it as running when it lets it go, so nothing overtakes it meanwhile.
      await new Promise<void>((go) => this.waiting.push({ owner, go }));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      this.running--;
      this.admitNext();
    }
  }

  private admitNext(): void {
    if (this.running >= this.concurrency) return;
    const next = this.waiting.shift();
    if (!next) return;
    const left = (this.queuedOf.get(next.owner) ?? 1) - 1;
    if (left > 0) this.queuedOf.set(next.owner, left);
    else this.queuedOf.delete(next.owner);
    this.running++;
    next.go();
  }
}
