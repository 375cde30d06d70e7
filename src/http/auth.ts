import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Scope } from '../config/config.js';
import { HttpError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

export interface Authenticated {
  keyId: string;
  scopes: Set<Scope>;
}

/** The challenge of a 401: both schemes a key may come in (Segment's SDKs send HTTP Basic). */
/** The scope the codec endpoint needs, and the cookie of a browser signed in to it (the dashboard signs in to both). */
export const CODEC_SCOPE = 'codec:decode';
export const CODEC_COOKIE = 'lifecycle_codec';

export const AUTH_CHALLENGE = 'Bearer, Basic realm="lifecycle"';

/**
 * The key a request presents: `Bearer <key>`, or HTTP Basic as the Segment HTTP API defines it (the key as
 * the user name, the password empty; a password is ignored, as Segment ignores it).
 */
export function presentedKey(header: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (bearer) return bearer[1]!;
  const basic = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user.length > 0 ? user : undefined;
}

/**
 * Keys from API_KEYS, as Bearer or Basic (the same key, the same scopes). Every configured key is compared (in constant time, over fixed-length
 * digests), so timing tells nothing about which key or how much of it matched.
 */
export function createAuthenticator(keys: Map<string, Set<Scope>>) {
  const table = [...keys].map(([key, scopes]) => ({ digest: digest(key), scopes, keyId: digest(key).toString('hex').slice(0, 8) }));
  return function authenticate(header: string | undefined): Authenticated | undefined {
    const key = presentedKey(header);
    if (key === undefined) return undefined;
    const presented = digest(key);
    let found: Authenticated | undefined;
    for (const entry of table) {
      if (timingSafeEqual(entry.digest, presented) && !found) found = { keyId: entry.keyId, scopes: entry.scopes };
    }
    return found;
  };
}

/** The scopes each configured key has, by key id: browser sessions check their key against it at every request. */
export function keyScopesById(keys: Map<string, Set<Scope>>): (keyId: string) => ReadonlySet<Scope> | undefined {
  const byId = new Map([...keys].map(([key, scopes]) => [digest(key).toString('hex').slice(0, 8), scopes] as const));
  return (keyId) => byId.get(keyId);
}

export function requireScope(authenticate: ReturnType<typeof createAuthenticator>, scope: Scope | Scope[]): RequestHandler {
  const wanted = Array.isArray(scope) ? scope : [scope];
  return (req, res, next) => {
    const auth = authenticate(req.headers.authorization);
    if (!auth) {
      res.setHeader('WWW-Authenticate', AUTH_CHALLENGE);
      return next(new HttpError(401, 'unauthenticated', 'send an API key: Authorization: Bearer <key>, or Basic with the key as the user name (Segment write key)'));
    }
    if (!wanted.some((s) => auth.scopes.has(s))) return next(new HttpError(403, 'forbidden', `this key lacks the scope ${wanted.join(' or ')}`));
    res.locals.auth = auth;
    next();
  };
}
