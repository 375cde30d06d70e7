import type { LinkSigner } from '../preferences/preference-links.js';

/** A minted inbox token and when it stops working. */
export interface InboxToken {
  token: string;
  expiresAt: Date;
}

/**
 * The short-lived tokens a customer's app reads its inbox with (`Authorization: Bearer <token>` on
 * /v1/inbox). The backend mints one per customer with an API key (POST /v1/customers/:userId/inbox-token)
 * and hands it to its app, so no API key ever reaches a device. Signed as the preference links are
 * (LINK_SECRETS, rotation included) under a purpose of their own: an unsubscribe or preference link is no
 * inbox token, nor the other way round. Unlike those links they expire (INBOX_TOKEN_TTL_SECONDS).
 */
export class InboxTokens {
  constructor(
    private readonly signer: LinkSigner,
    private readonly ttlSeconds: number,
  ) {}

  mint(userId: string, now: number = Date.now()): InboxToken {
    const expiresAt = Math.floor(now / 1000) + this.ttlSeconds;
    return { token: this.signer.sign('inbox', { userId, expiresAt }), expiresAt: new Date(expiresAt * 1000) };
  }

  /** The customer a token was minted for, or undefined when it is not one of ours, not an inbox token, or expired. */
  customerOf(token: string | undefined, now: number = Date.now()): string | undefined {
    const claims = this.signer.verify('inbox', token, now);
    return claims?.expiresAt !== undefined ? claims.userId : undefined;
  }
}
