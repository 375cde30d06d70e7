import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Scope } from '../config/config.js';
import { HttpError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

export interface Authenticated {
  keyId: string;
  scopes: Set<Scope>;
}

/**
 * Bearer keys from API_KEYS. Every configured key is compared (in constant time, over fixed-length
 * digests), so timing tells nothing about which key or how much of it matched.
 */
export function createAuthenticator(keys: Map<string, Set<Scope>>) {
  const table = [...keys].map(([key, scopes]) => ({ digest: digest(key), scopes, keyId: digest(key).toString('hex').slice(0, 8) }));
  return function authenticate(header: string | undefined): Authenticated | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return undefined;
    const presented = digest(match[1]!);
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

export function requireScope(authenticate: ReturnType<typeof createAuthenticator>, scope: Scope): RequestHandler {
  return (req, res, next) => {
    const auth = authenticate(req.headers.authorization);
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return next(new HttpError(401, 'unauthenticated', 'send an API key: Authorization: Bearer <key>'));
    }
    if (!auth.scopes.has(scope)) return next(new HttpError(403, 'forbidden', `this key lacks the scope ${scope}`));
    res.locals.auth = auth;
    next();
  };
}
