import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Authenticated } from '../http/auth.js';
import { SCOPES, type Scope } from '../config/config.js';
import type { SessionRevocations } from './revoked-sessions.js';

export interface BrowserSession extends Authenticated {
  /** The sign-in's id: the dashboard's and the codec's tokens of one sign-in share it, so signing out ends both. */
  id: string;
  expiresAt: number;
}

export interface SignedSessionOptions {
  /** The HMAC key every API instance shares (sessionSecret()). */
  secret: Buffer;
  /** What the token is for ("dashboard", "codec"): a token made for one is refused by the other. */
  purpose: string;
  /** The scopes the key with this id has now, or undefined when it is no longer configured. */
  keyScopes: (keyId: string) => ReadonlySet<Scope> | undefined;
  /** Sign-outs shared by every instance; without it a copy of a signed-out cookie stays valid until it expires. */
  revocations?: SessionRevocations;
  now?: () => number;
}

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * Browser sign-ins as signed tokens, so any API instance behind the load balancer accepts a session another
 * made (no shared memory, no store to reach). The cookie holds `v1.<payload>.<HMAC-SHA256>` with the key's
 * id, its scopes and the expiry, never the key. Each check also asks the current configuration: a key
 * removed from API_KEYS ends its sessions at once, and a session never has more scopes than its key has now.
 * Signing out deletes the browser's cookie and, with `revocations`, records the sign-in's id in MongoDB so that a
 * copy of the cookie taken before is refused by every instance too (docs/security.md).
 */
export class SignedSessions {
  constructor(
    readonly ttlMs: number,
    private readonly opts: SignedSessionOptions,
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private sign(payload: string): Buffer {
    return createHmac('sha256', this.opts.secret).update(`${this.opts.purpose}.${payload}`).digest();
  }

  /** A new sign-in's id, for create() when two tokens (dashboard and codec) belong to one sign-in. */
  static newId(): string {
    return b64(randomBytes(9));
  }

  create(auth: Authenticated, id = SignedSessions.newId()): string {
    const payload = b64(JSON.stringify({ k: auth.keyId, s: [...auth.scopes], e: this.now() + this.ttlMs, n: id }));
    return `v1.${payload}.${b64(this.sign(payload))}`;
  }

  /** The live session this token carries, if its signature holds, it has not expired and its key is still configured. */
  get(token: string | undefined): BrowserSession | undefined {
    const parts = token?.split('.');
    if (parts?.length !== 3 || parts[0] !== 'v1') return undefined;
    const [, payload, signature] = parts as [string, string, string];
    const presented = Buffer.from(signature, 'base64url');
    const expected = this.sign(payload);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
    let claims: { k?: unknown; s?: unknown; e?: unknown; n?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    if (typeof claims.k !== 'string' || typeof claims.e !== 'number' || typeof claims.n !== 'string' || !Array.isArray(claims.s)) return undefined;
    if (claims.e <= this.now()) return undefined;
    const current = this.opts.keyScopes(claims.k);
    if (!current) return undefined;
    const scopes = new Set((claims.s as unknown[]).filter((s): s is Scope => (SCOPES as readonly unknown[]).includes(s) && current.has(s as Scope)));
    return { keyId: claims.k, scopes, id: claims.n, expiresAt: claims.e };
  }

  /** get(), unless the sign-in was signed out (on any instance). Rejects when the revocation store cannot answer. */
  async check(token: string | undefined): Promise<BrowserSession | undefined> {
    const session = this.get(token);
    if (!session || !this.opts.revocations) return session;
    return (await this.opts.revocations.isRevoked(session.id)) ? undefined : session;
  }

  /** Ends the sign-in this token belongs to everywhere (the codec's token of the same sign-in too). */
  async revoke(token: string | undefined): Promise<void> {
    const session = this.get(token);
    if (session && this.opts.revocations) await this.opts.revocations.revoke(session.id, new Date(session.expiresAt));
  }
}

/**
 * The sessions' HMAC key: SESSION_SECRET when set, else derived from the whole API_KEYS list, which every
 * instance of one deployment shares (changing the keys then signs everyone out, as it should).
 */
export function sessionSecret(apiKeys: Iterable<string>, configured?: string): Buffer {
  const hash = createHash('sha256').update('lifecycle browser sessions v1\0');
  if (configured) hash.update(`secret\0${configured}`);
  else for (const key of [...apiKeys].sort()) hash.update(`key\0${key}\0`);
  return hash.digest();
}
