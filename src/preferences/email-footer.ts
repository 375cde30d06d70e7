import type { RenderedMessage } from '../delivery/render-message.js';
import { preferenceStrings } from './preference-strings.js';

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A marketing email's footer: the links to the preference page and to unsubscribe, in the message's own
 * language. Left out when the template already shows the preference link itself (`{{ links.preferences }}`).
 */
export function withPreferenceFooter(rendered: RenderedMessage, links: { preferences: string; unsubscribe: string }): RenderedMessage {
  if (rendered.html.includes(escapeHtml(links.preferences)) || rendered.html.includes(links.preferences)) return rendered;
  const t = preferenceStrings(rendered.locale);
  const html =
    `${rendered.html}\n<p style="font-size:12px;color:#666">${escapeHtml(t.footer)} ` +
    `<a href="${escapeHtml(links.preferences)}">${escapeHtml(t.managePreferences)}</a> · ` +
    `<a href="${escapeHtml(links.unsubscribe)}">${escapeHtml(t.footerUnsubscribe)}</a></p>\n`;
  const text =
    rendered.text === undefined
      ? undefined
      : `${rendered.text.replace(/\s+$/, '')}\n\n--\n${t.footer}\n${t.managePreferences}: ${links.preferences}\n${t.footerUnsubscribe}: ${links.unsubscribe}\n`;
  return { ...rendered, html, ...(text !== undefined ? { text } : {}) };
}
