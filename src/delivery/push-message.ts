import { createHash } from 'node:crypto';
import type { ChannelOptions } from '../core/channel-ids.js';
import type { DeliveryRequest } from '../core/journey-state.js';
import type { RenderedMessage } from './render-message.js';

/**
 * The JSON a service worker receives in its `push` event (`event.data.json()`), decrypted by the browser.
 * Show it with `registration.showNotification(title, { body, icon, tag, data: { url } })`: `tag` is the same
 * for every attempt of one message, so a second copy replaces the first instead of showing twice.
 */
export interface PushMessage {
  title: string;
  body: string;
  /** Where a tap opens (the message's `url` option). */
  url?: string;
  icon?: string;
  /** One message's identity on the device: pass it to showNotification. */
  tag: string;
  /** Our delivery key, for the app to report a click or a dismissal with. */
  deliveryKey: string;
  campaignId: string;
  locale: string;
}

/**
 * Push services take at most 4096 bytes per message; after the aes128gcm header (86 bytes), the padding
 * delimiter and the tag, 3993 bytes of JSON are left. A little under that, so a message always fits.
 */
export const MAX_PUSH_PAYLOAD_BYTES = 3_900;

/** The RFC 8030 Topic of a message: the same for every attempt, so a push service replaces a queued copy. */
export function pushTopic(deliveryKey: string): string {
  // At most 32 characters of the URL-safe base64 alphabet (RFC 8030 section 5.4).
  return createHash('sha256').update(deliveryKey).digest('base64url').slice(0, 32);
}

/** The notification for a rendered template: title = subject, body = text, cut to fit a push message. */
export function pushMessage(request: DeliveryRequest, rendered: RenderedMessage, options: Partial<ChannelOptions<'push'>>): PushMessage {
  const message: PushMessage = {
    title: rendered.subject,
    // The definition's validator makes every push template carry `text`.
    body: rendered.text ?? '',
    ...(options.url ? { url: options.url } : {}),
    ...(options.icon ? { icon: options.icon } : {}),
    tag: pushTopic(request.key),
    deliveryKey: request.key,
    campaignId: request.campaignId,
    locale: rendered.locale,
  };
  return fitted(message);
}

/** Within MAX_PUSH_PAYLOAD_BYTES as JSON: the body is shortened first (with an ellipsis), then the title. */
function fitted(message: PushMessage): PushMessage {
  const size = (m: PushMessage) => Buffer.byteLength(JSON.stringify(m));
  let fit = message;
  for (const field of ['body', 'title'] as const) {
    const over = size(fit) - MAX_PUSH_PAYLOAD_BYTES;
    if (over <= 0) return fit;
    const chars = [...fit[field]];
    const cut = (keep: number) => ({ ...fit, [field]: keep > 0 ? `${chars.slice(0, keep).join('')}…` : '' });
    // The most whole characters that fit (escaped ones take more than a byte each, so measure).
    let [low, high] = [0, chars.length - 1];
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (size(cut(mid)) <= MAX_PUSH_PAYLOAD_BYTES) low = mid;
      else high = mid - 1;
    }
    const keep = low;
    fit = cut(keep);
  }
  return fit;
}
