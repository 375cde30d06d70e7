/**
 * Work under one key runs one at a time, in the order asked for (a failure does not stop the next). Each call
 * of the factory is a queue of its own; keys are forgotten once their work is done.
 *
 * Compare-and-set writes use it: MongoDB applies a conditional update atomically, but FerretDB 1.x reads and
 * then writes, so two overlapping writes of one customer (a timed-out attempt still running beside its retry)
 * could let the older one land last.
 */
export function oneAtATimePerKey(): <T>(key: string, fn: () => Promise<T>) => Promise<T> {
  const running = new Map<string, Promise<unknown>>();
  return <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const run = (running.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    running.set(key, tail);
    void tail.then(() => {
      if (running.get(key) === tail) running.delete(key);
    });
    return run;
  };
}
