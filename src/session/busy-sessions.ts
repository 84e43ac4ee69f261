/**
 * Sessions this gateway last saw with a run going (it started one there, or a start was
 * refused because one was going), most recent last, at most `capacity` of them. Only a hint:
 * Redis decides every start; this picks how a start is sent (see SessionCommands.begin).
 */
export class BusySessions {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(sessionKey: string): boolean {
    return this.keys.has(sessionKey);
  }

  add(sessionKey: string): void {
    this.keys.delete(sessionKey);
    this.keys.add(sessionKey);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
  }

  delete(sessionKey: string): void {
    this.keys.delete(sessionKey);
  }
}
