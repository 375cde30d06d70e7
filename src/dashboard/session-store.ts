import { randomBytes } from 'node:crypto';
import type { Authenticated } from '../api/auth.js';

export interface DashboardSession extends Authenticated {
  expiresAt: number;
}

/**
 * Dashboard sign-ins, in memory: the browser holds only an opaque random id (never the API key), so a
 * session ends when it expires, when its owner signs out, or when the API restarts. Bounded: past `max`
 * sessions the oldest goes.
 */
export class SessionStore {
  private readonly sessions = new Map<string, DashboardSession>();

  constructor(
    readonly ttlMs: number,
    private readonly opts: { max?: number; now?: () => number } = {},
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  create(auth: Authenticated): string {
    this.sweep();
    const max = this.opts.max ?? 10_000;
    while (this.sessions.size >= max) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { keyId: auth.keyId, scopes: auth.scopes, expiresAt: this.now() + this.ttlMs });
    return id;
  }

  /** The live session with this id, if any; an expired one is forgotten. */
  get(id: string | undefined): DashboardSession | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}
