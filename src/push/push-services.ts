/**
 * Which push services the worker may POST to (WEB_PUSH_SERVICES). A subscription's endpoint is a URL a
 * browser made up and an app handed us: without a list, anyone with a `customers:write` key could make the
 * worker call any host (SSRF). An entry is an origin (`https://fcm.googleapis.com`), an origin whose host
 * starts with `*.` (any subdomain: `https://*.notify.windows.com`), or `*` (any https URL).
 */
export type PushServiceList = readonly string[];

/** The push services of Chrome/Edge (FCM), Firefox (Mozilla autopush), Safari (Apple) and Windows (WNS). */
export const DEFAULT_PUSH_SERVICES: PushServiceList = [
  'https://fcm.googleapis.com',
  'https://updates.push.services.mozilla.com',
  'https://web.push.apple.com',
  'https://*.notify.windows.com',
];

/** A list entry's problem, or undefined when it is a valid entry. */
export function pushServiceEntryProblem(entry: string): string | undefined {
  if (entry === '*') return undefined;
  const host = entry.replace('://*.', '://');
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    return `"${entry}" is not an origin such as https://fcm.googleapis.com`;
  }
  if (url.protocol !== 'https:') return `"${entry}": push services are reached over https only`;
  if (url.href.replace(/\/$/, '') !== url.origin) return `"${entry}" is not an origin (no path, query or credentials)`;
  return undefined;
}

/** Why this endpoint may not be used, or undefined when it may. */
export function pushEndpointProblem(endpoint: string, services: PushServiceList): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'the endpoint is not a URL';
  }
  if (url.protocol !== 'https:') return 'the endpoint must be an https:// URL';
  if (url.username || url.password) return 'the endpoint must not carry credentials';
  if (services.includes('*')) return undefined;
  const allowed = services.some((entry) => {
    const wildcard = entry.indexOf('://*.');
    if (wildcard < 0) return url.origin === entry;
    const base = new URL(entry.replace('://*.', '://'));
    return url.port === base.port && url.hostname.endsWith(`.${base.hostname}`);
  });
  return allowed ? undefined : `the endpoint's push service ${url.origin} is not one this deployment sends to (WEB_PUSH_SERVICES: ${services.join(', ')})`;
}
