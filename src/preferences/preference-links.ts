import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * What a token lets its holder do: one-click unsubscribe (of one topic, or all marketing), open the
 * preference page, or read the customer's in-app inbox (src/inbox/inbox-tokens.ts, short-lived).
 */
export type LinkPurpose = 'unsubscribe' | 'preferences' | 'inbox';

export interface LinkClaims {
  userId: string;
  /** For unsubscribe: the topic the message belonged to; absent: all marketing. */
  topic?: string;
  /** Unix seconds after which the token is refused; absent: it never expires (the links in emails). */
  expiresAt?: number;
}

const b64 = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * The signed links marketing emails carry (List-Unsubscribe, the preference page): `v1.<claims>.<HMAC-SHA256>`,
 * bound to their purpose, with no expiry (RFC 8058: a link in a years-old email must still work) and no
 * login. The first secret signs, every secret verifies, so LINK_SECRETS rotates without breaking old mail.
 */
export class LinkSigner {
  private readonly secrets: Buffer[];

  constructor(secrets: Buffer[]) {
    if (secrets.length === 0) throw new Error('LinkSigner needs at least one secret');
    this.secrets = secrets;
  }

  private mac(secret: Buffer, purpose: LinkPurpose, payload: string): Buffer {
    return createHmac('sha256', secret).update(`lifecycle link v1\0${purpose}\0${payload}`).digest();
  }

  sign(purpose: LinkPurpose, claims: LinkClaims): string {
    const payload = b64(
      JSON.stringify({ u: claims.userId, ...(claims.topic !== undefined ? { t: claims.topic } : {}), ...(claims.expiresAt !== undefined ? { x: claims.expiresAt } : {}) }),
    );
    return `v1.${payload}.${b64(this.mac(this.secrets[0]!, purpose, payload))}`;
  }

  /** The claims of a token made for this purpose by one of the secrets and not expired at `now` (ms); undefined for anything else. */
  verify(purpose: LinkPurpose, token: string | undefined, now: number = Date.now()): LinkClaims | undefined {
    const parts = token?.split('.');
    if (parts?.length !== 3 || parts[0] !== 'v1') return undefined;
    const [, payload, signature] = parts as [string, string, string];
    if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]+$/.test(signature)) return undefined;
    const presented = Buffer.from(signature, 'base64url');
    const valid = this.secrets.some((secret) => {
      const expected = this.mac(secret, purpose, payload);
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    });
    if (!valid) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { u?: unknown; t?: unknown; x?: unknown };
      if (typeof claims.u !== 'string' || claims.u.length === 0) return undefined;
      if (claims.t !== undefined && typeof claims.t !== 'string') return undefined;
      if (claims.x !== undefined && (typeof claims.x !== 'number' || claims.x * 1000 <= now)) return undefined;
      return { userId: claims.u, ...(claims.t !== undefined ? { topic: claims.t } : {}), ...(claims.x !== undefined ? { expiresAt: claims.x } : {}) };
    } catch {
      return undefined;
    }
  }
}

/** Where the links point: the API's public address (PUBLIC_URL). */
export interface PreferenceLinks {
  unsubscribeUrl(claims: LinkClaims): string;
  preferencesUrl(userId: string): string;
}

export const UNSUBSCRIBE_PATH = '/u';
export const PREFERENCES_PATH = '/preferences';

export function preferenceLinks(signer: LinkSigner, publicUrl: string): PreferenceLinks {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    unsubscribeUrl: (claims) => `${base}${UNSUBSCRIBE_PATH}/${signer.sign('unsubscribe', claims)}`,
    preferencesUrl: (userId) => `${base}${PREFERENCES_PATH}/${signer.sign('preferences', { userId })}`,
  };
}

/**
 * RFC 8058 headers for one marketing email: the HTTPS link a mailbox provider POSTs
 * `List-Unsubscribe=One-Click` to. (No mailto: nothing here would read the mail sent to it.)
 */
export function listUnsubscribeHeaders(unsubscribeUrl: string): Record<string, string> {
  return {
    'List-Unsubscribe': `<${unsubscribeUrl}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}
