import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/** A phone number as a profile holds it, read as E.164 (`+4915123456789`), or why it is not one. */
export type PhoneNumberReading = { kind: 'valid'; e164: string } | { kind: 'invalid'; reason: string };

/** Is this a two-letter region libphonenumber-js knows (`DE`, `US`)? For the config's SMS_DEFAULT_COUNTRY. */
export function isPhoneCountry(value: string): value is CountryCode {
  return /^[A-Z]{2}$/.test(value) && parsePhoneNumberFromString('1', value as CountryCode) !== undefined;
}

/**
 * A number as a customer or a backend wrote it (`+49 1512 3456789`, `01512 3456789` with country DE,
 * `(415) 555-2671` with US) in E.164, checked against libphonenumber's full metadata (length and number
 * ranges of the country), so an SMS never goes to a number that cannot exist. A national number needs
 * `defaultCountry`; an international one (starting with + or 00) does not.
 */
export function readPhoneNumber(raw: unknown, defaultCountry?: CountryCode): PhoneNumberReading {
  if (typeof raw !== 'string' || raw.trim() === '') return { kind: 'invalid', reason: 'no phone number' };
  const text = raw.trim().replace(/^00/, '+');
  const parsed = parsePhoneNumberFromString(text, defaultCountry ? { defaultCountry } : {});
  if (!parsed) {
    return { kind: 'invalid', reason: text.startsWith('+') || defaultCountry ? 'not a phone number' : 'a national number without a country (write it as +<country code>… or set SMS_DEFAULT_COUNTRY)' };
  }
  if (!parsed.isValid()) return { kind: 'invalid', reason: `not a valid phone number in ${parsed.country ?? `+${parsed.countryCallingCode}`}` };
  return { kind: 'valid', e164: parsed.number };
}

/**
 * The spellings a profile may hold one E.164 number in: itself, without the +, and the country's national
 * and international formats. Inbound messages (a STOP) name the sender in E.164; profiles are found by any
 * of these (store numbers in E.164 and the first one always matches).
 */
export function phoneSpellings(e164: string): string[] {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return [e164];
  const national = parsed.formatNational();
  return [...new Set([e164, e164.slice(1), parsed.formatInternational(), national, national.replace(/[^\d]/g, ''), `00${e164.slice(1)}`])];
}
