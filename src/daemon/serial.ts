// One queue of operations per key: an operation on a key starts when every earlier
// one on that key has settled, whether it succeeded or failed. The daemon keys it by
// container name, so set-up, settings changes and removal of one container never
// overlap, while different containers proceed side by side.
export class SerialQueues {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs fn after every earlier operation on the same key. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Resolves once no operation is queued or running, including ones queued meanwhile. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.allSettled([...this.tails.values()]);
  }
}
