import type { RequestHandler } from 'express';
import type { Authenticated } from '../http/auth.js';
import { HttpError } from '../http/errors.js';

export interface TokenBucketOptions {
  /** Tokens added per second; 0 turns the limit off. */
  ratePerSecond: number;
  /** The bucket's size: how many may come at once after a quiet spell. */
  burst: number;
  /** Milliseconds; tests pass their own clock. */
  now?: () => number;
  /** Buckets kept at most; idle (full) ones are forgotten first. */
  maxKeys?: number;
}

export type Take = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * One token bucket per key (an API key, a customer), in this process's memory: each starts full with
 * `burst` tokens and refills at `ratePerSecond`. Several API instances each enforce their own share.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly opts: TokenBucketOptions) {
    if (!(opts.ratePerSecond >= 0) || !(opts.burst >= 1)) throw new RangeError('a rate of 0 or more per second and a burst of at least 1');
    this.now = opts.now ?? Date.now;
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  get enabled(): boolean {
    return this.opts.ratePerSecond > 0;
  }

  /** Take `cost` tokens from `key`'s bucket, or say how many whole seconds until they are there. */
  take(key: string, cost = 1): Take {
    if (!this.enabled) return { allowed: true };
    const { ratePerSecond, burst } = this.opts;
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * ratePerSecond) : burst;
    if (tokens >= cost) {
      // Re-inserted, so the map's order is least recently used first.
      this.buckets.delete(key);
      this.buckets.set(key, { tokens: tokens - cost, at: now });
      if (this.buckets.size > this.maxKeys) this.evict(now);
      return { allowed: true };
    }
    if (bucket) {
      bucket.tokens = tokens;
      bucket.at = now;
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((Math.min(cost, burst) - tokens) / ratePerSecond)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Forget buckets that have refilled (they start full anyway), then the least recently used. */
  private evict(now: number): void {
    const { ratePerSecond, burst } = this.opts;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * ratePerSecond >= burst) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}

/** 429 with Retry-After (whole seconds, rounded up) and the Error body (`rate_limited`). */
export class RateLimited extends HttpError {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(429, 'rate_limited', message);
    this.name = 'RateLimited';
  }
}

export interface RateLimitOptions {
  perKey: { ratePerSecond: number; burst: number };
  perCustomer: { ratePerSecond: number; burst: number };
  now?: () => number;
}

export type RateLimits = ReturnType<typeof createRateLimits>;

/**
 * The API's limits: requests per API key (every route behind a key; a batch is one request), and events
 * per customer (track, identify and each batch item), so one busy customer cannot flood their journey.
 */
export function createRateLimits(opts: RateLimitOptions) {
  const perKey = new TokenBuckets({ ...opts.perKey, ...(opts.now ? { now: opts.now } : {}) });
  const perCustomer = new TokenBuckets({ ...opts.perCustomer, ...(opts.now ? { now: opts.now } : {}) });
  return {
    perKey,
    perCustomer,
    /** After authentication: one token of the key's bucket per request. */
    keyLimit: ((_req, res, next) => {
      const auth = res.locals.auth as Authenticated | undefined;
      if (!auth) return next();
      const taken = perKey.take(auth.keyId);
      if (taken.allowed) return next();
      next(new RateLimited(taken.retryAfterSeconds, `this API key is over ${opts.perKey.ratePerSecond} requests per second; retry after ${taken.retryAfterSeconds} s`));
    }) as RequestHandler,
    /** One event of `userId`; throws RateLimited when the customer is over their rate. */
    customerEvent(userId: string): void {
      const taken = perCustomer.take(userId);
      if (!taken.allowed) throw customerLimited(taken.retryAfterSeconds, opts.perCustomer.ratePerSecond);
    },
  };
}

export function customerLimited(retryAfterSeconds: number, ratePerSecond: number): RateLimited {
  return new RateLimited(retryAfterSeconds, `this customer is over ${ratePerSecond} events per second; retry after ${retryAfterSeconds} s`);
}
