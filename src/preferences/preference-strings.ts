import type { JourneyDefinition } from '../core/journey-definition.js';
import { pickLocale } from '../delivery/render-message.js';

/**
 * What the preference page, the unsubscribe page and the footer of a marketing email say, per language.
 * A customer sees the language their messages come in (profile `locale`, its language, then English);
 * topic names come from the definition's `topics`, localized the same way as its templates.
 */
export interface PreferenceStrings {
  lang: string;
  pageTitle: string;
  intro: string;
  marketingLegend: string;
  marketingLabel: string;
  topicsLegend: string;
  channelsLegend: string;
  channelsHint: string;
  save: string;
  saved: string;
  unsubscribeAll: string;
  transactionalNote: string;
  unsubscribeTitle: string;
  unsubscribeQuestion: (topic: string | undefined) => string;
  unsubscribeConfirm: string;
  unsubscribed: (topic: string | undefined) => string;
  managePreferences: string;
  invalidLink: string;
  unknownCustomer: string;
  unavailable: string;
  footer: string;
  footerUnsubscribe: string;
  channelNames: Record<string, string>;
}

const en: PreferenceStrings = {
  lang: 'en',
  pageTitle: 'Your email preferences',
  intro: 'Choose what we may send you. Changes apply at once.',
  marketingLegend: 'Marketing',
  marketingLabel: 'Send me marketing messages',
  topicsLegend: 'Topics',
  channelsLegend: 'Channels',
  channelsHint: 'How marketing messages may reach you.',
  save: 'Save preferences',
  saved: 'Your preferences are saved.',
  unsubscribeAll: 'Unsubscribe from all marketing',
  transactionalNote: 'Messages about your account, payments and bookings are always sent.',
  unsubscribeTitle: 'Unsubscribe',
  unsubscribeQuestion: (topic) => (topic ? `Stop receiving “${topic}” messages?` : 'Stop receiving marketing messages?'),
  unsubscribeConfirm: 'Unsubscribe',
  unsubscribed: (topic) => (topic ? `You will no longer receive “${topic}” messages.` : 'You will no longer receive marketing messages.'),
  managePreferences: 'Manage all your preferences',
  invalidLink: 'This link is not valid. Please use the link from your latest email.',
  unknownCustomer: 'We have no messages to send to this address any more.',
  unavailable: 'We could not save this just now. Please try again in a minute.',
  footer: 'Don’t want these emails?',
  footerUnsubscribe: 'Unsubscribe',
  channelNames: { email: 'Email', sms: 'Text messages (SMS)', push: 'Push notifications', inapp: 'In-app messages', in_app: 'In-app messages', webhook: 'App notifications' },
};

const de: PreferenceStrings = {
  lang: 'de',
  pageTitle: 'Deine E-Mail-Einstellungen',
  intro: 'Wähle, was wir dir schicken dürfen. Änderungen gelten sofort.',
  marketingLegend: 'Werbung',
  marketingLabel: 'Ich möchte Werbenachrichten erhalten',
  topicsLegend: 'Themen',
  channelsLegend: 'Kanäle',
  channelsHint: 'Wie dich Werbenachrichten erreichen dürfen.',
  save: 'Einstellungen speichern',
  saved: 'Deine Einstellungen sind gespeichert.',
  unsubscribeAll: 'Von aller Werbung abmelden',
  transactionalNote: 'Nachrichten zu deinem Konto, zu Zahlungen und Buchungen senden wir immer.',
  unsubscribeTitle: 'Abmelden',
  unsubscribeQuestion: (topic) => (topic ? `Keine Nachrichten zu „${topic}“ mehr erhalten?` : 'Keine Werbenachrichten mehr erhalten?'),
  unsubscribeConfirm: 'Abmelden',
  unsubscribed: (topic) => (topic ? `Du erhältst keine Nachrichten zu „${topic}“ mehr.` : 'Du erhältst keine Werbenachrichten mehr.'),
  managePreferences: 'Alle Einstellungen verwalten',
  invalidLink: 'Dieser Link ist ungültig. Bitte nutze den Link aus deiner letzten E-Mail.',
  unknownCustomer: 'Wir senden an diese Adresse keine Nachrichten mehr.',
  unavailable: 'Das konnten wir gerade nicht speichern. Bitte versuche es in einer Minute noch einmal.',
  footer: 'Du möchtest diese E-Mails nicht mehr?',
  footerUnsubscribe: 'Abmelden',
  channelNames: { email: 'E-Mail', sms: 'SMS', push: 'Push-Benachrichtigungen', inapp: 'In-App-Nachrichten', in_app: 'In-App-Nachrichten', webhook: 'App-Benachrichtigungen' },
};

const STRINGS: Record<string, PreferenceStrings> = { en, de };

/** The strings in the customer's language (exact tag, its language, else English). */
export function preferenceStrings(locale: string | undefined | null): PreferenceStrings {
  return STRINGS[pickLocale(Object.keys(STRINGS), locale ?? undefined, 'en')]!;
}

/** A topic's name (and description) in the customer's locale, falling back as templates do. */
export function topicText(definition: Pick<JourneyDefinition, 'topics' | 'defaultLocale'>, topicId: string, locale: string | undefined | null): { label: string; description?: string } {
  const topic = definition.topics?.find((t) => t.id === topicId);
  if (!topic) return { label: topicId };
  const pick = (texts: Record<string, string>) => texts[pickLocale(Object.keys(texts), locale ?? undefined, definition.defaultLocale)] ?? Object.values(texts)[0];
  const description = topic.description ? pick(topic.description) : undefined;
  return { label: pick(topic.label) ?? topicId, ...(description ? { description } : {}) };
}
