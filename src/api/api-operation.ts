import type { ZodOpenApiOperationObject } from 'zod-openapi';
import type { Scope } from '../config/config.js';

/**
 * One route of the API as the OpenAPI document lists it (openapi.ts gathers them; each group of routes may
 * describe its own, as segment-openapi.ts does, and import this type from here rather than from the
 * document that imports them).
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ApiOperation {
  method: HttpMethod;
  /** The Express route pattern, as registered in app.ts (`/v1/customers/:userId`). */
  path: string;
  /** The scope the bearer key needs; none for public routes and for routes authenticated otherwise (`auth`). */
  scope?: Scope;
  /** A second scope that is enough on its own (GET /v1/rejected: events:read, or events:write). */
  orScope?: Scope;
  /** Authenticated without an API key: SendGrid's signature (Signed Event Webhook), Twilio's (X-Twilio-Signature), or a customer's inbox token. */
  auth?: 'sendgridSignature' | 'twilioSignature' | 'inboxToken';
  operation: Omit<ZodOpenApiOperationObject, 'security'>;
}
