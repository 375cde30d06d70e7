import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Authenticated } from '../http/auth.js';
import { SCOPES, type Scope } from '../config/config.js';

export interface BrowserSession extends Authenticated {
  expiresAt: number;
}

export interface SignedSessionOptions {
  /** The HMAC key every API instance shares (sessionSecret()). */
  secret: Buffer;
  /** What the token is for ("dashboard", "codec"): a token made for one is refused by the other. */
  purpose: string;
  /** The scopes the key with this id has now, or undefined when it is no longer configured. */
  keyScopes: (keyId: string) => ReadonlySet<Scope> | undefined;
  now?: () => number;
}

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * Browser sign-ins as signed tokens, so any API instance behind the load balancer accepts a session another
 * made (no shared memory, no store to reach). The cookie holds `v1.<payload>.<HMAC-SHA256>` with the key's
 * id, its scopes and the expiry, never the key. Each check also asks the current configuration: a key
 * removed from API_KEYS ends its sessions at once, and a session never has more scopes than its key has now.
 * Signing out deletes the browser's cookie; a copy of the cookie taken before stays valid until it expires
 * (12 hours) or the secret changes (docs/security.md).
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

  create(auth: Authenticated): string {
    const payload = b64(JSON.stringify({ k: auth.keyId, s: [...auth.scopes], e: this.now() + this.ttlMs, n: b64(randomBytes(9)) }));
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
    let claims: { k?: unknown; s?: unknown; e?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    if (typeof claims.k !== 'string' || typeof claims.e !== 'number' || !Array.isArray(claims.s)) return undefined;
    if (claims.e <= this.now()) return undefined;
    const current = this.opts.keyScopes(claims.k);
    if (!current) return undefined;
    const scopes = new Set((claims.s as unknown[]).filter((s): s is Scope => (SCOPES as readonly unknown[]).includes(s) && current.has(s as Scope)));
    return { keyId: claims.k, scopes, expiresAt: claims.e };
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
