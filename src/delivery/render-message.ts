import { Liquid } from 'liquidjs';
import type { JourneyDefinition, TemplateContent } from '../core/journey-definition.js';
import type { CustomerDoc } from '../db/models.js';

/**
 * HTML bodies escape every output; subjects and text bodies are plain text. Customer data is only ever
 * data: Liquid does not parse what it outputs, so a trait "{{ 7*7 }}" prints as written. A template reads
 * no file ({% include %} and {% render %} find only the empty `templates`), sees only own properties (no
 * `constructor` or prototype), and its render is bounded in time and memory.
 */
const options = { strictFilters: true, ownPropertyOnly: true, templates: {}, renderLimit: 5_000, memoryLimit: 1e8 };
const html = new Liquid({ ...options, outputEscape: 'escape' });
const plain = new Liquid(options);

export interface RenderedMessage {
  locale: string;
  subject: string;
  html: string;
  text?: string;
}

/** The template's version for the customer's locale: exact tag, then its language, then the default locale. */
export function pickLocale(available: string[], wanted: string | undefined, fallback: string): string {
  if (wanted) {
    const exact = available.find((l) => l.toLowerCase() === wanted.toLowerCase());
    if (exact) return exact;
    const language = wanted.split('-')[0]!.toLowerCase();
    const byLanguage = available.find((l) => l.toLowerCase() === language);
    if (byLanguage) return byLanguage;
  }
  return fallback;
}

export async function renderMessage(
  definition: JourneyDefinition,
  templateId: string,
  profile: CustomerDoc,
  eventProperties: Record<string, unknown> | undefined,
  journey?: { stage: string; plan: string | null; counters: Record<string, number> },
  /** Marketing: the customer's signed preference-page and unsubscribe links, as `{{ links.preferences }}` and `{{ links.unsubscribe }}`. */
  links?: { preferences: string; unsubscribe: string },
): Promise<RenderedMessage> {
  const template = definition.templates.find((t) => t.id === templateId);
  if (!template) throw new Error(`template "${templateId}" is not in definition ${definition.id}`);
  const locale = pickLocale(Object.keys(template.locales), profile.locale, definition.defaultLocale);
  const content: TemplateContent = template.locales[locale]!;
  const scope = {
    profile: {
      userId: profile._id,
      email: profile.email,
      name: profile.name,
      firstName: profile.firstName ?? profile.name?.split(/\s+/)[0],
      lastName: profile.lastName,
      locale: profile.locale,
      timezone: profile.timezone,
      traits: profile.traits ?? {},
      /** Computed by the journey (definition computedTraits): `{{ profile.computed.favourite_programme }}`. */
      computed: profile.computed ?? {},
    },
    event: { properties: eventProperties ?? {} },
    journey: journey ?? { stage: null, plan: null, counters: {} },
    links: links ?? {},
  };
  const [subject, body, text] = await Promise.all([
    plain.parseAndRender(content.subject, scope),
    html.parseAndRender(content.html, scope),
    content.text === undefined ? Promise.resolve(undefined) : plain.parseAndRender(content.text, scope),
  ]);
  return { locale, subject: subject.replace(/[\r\n]+/g, ' ').trim(), html: body, ...(text !== undefined ? { text } : {}) };
}
