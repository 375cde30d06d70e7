/** Retry a start-up connection while a dependency comes up (servers started side by side take turns). */
export async function retryUntilUp<T>(what: string, fn: () => Promise<T>, warn: (msg: string) => void, attempts = 60): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts) throw err;
      warn(`${what} not reachable yet (${(err as Error).message.split('\n')[0]}); retrying`);
      await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * attempt)));
    }
  }
}
