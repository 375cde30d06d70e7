/**
 * The keywords carriers require a sender to honour in a reply (CTIA; Twilio's default opt-out keywords): a
 * reply that is one of them, alone, whatever its case and trailing punctuation. "Stop texting me at
 * night" is not a STOP: carriers and Twilio match the whole message.
 */
export type SmsKeyword = 'stop' | 'start' | 'help';

const KEYWORDS: ReadonlyMap<string, SmsKeyword> = new Map([
  ...['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'].map((k) => [k, 'stop'] as const),
  ...['START', 'UNSTOP', 'YES'].map((k) => [k, 'start'] as const),
  ...['HELP', 'INFO'].map((k) => [k, 'help'] as const),
]);

/**
 * The keyword a reply is, if any. `optOutType` is what Twilio's Advanced Opt-Out says it matched (its
 * `OptOutType` parameter: STOP, START or HELP, also for keywords configured in the Messaging Service),
 * and wins over our own reading.
 */
export function smsKeyword(body: string | undefined, optOutType?: string): SmsKeyword | undefined {
  const told = optOutType?.trim().toLowerCase();
  if (told === 'stop' || told === 'start' || told === 'help') return told;
  const word = (body ?? '')
    .normalize('NFKC')
    .trim()
    .replace(/[\s.!?,;:]+$/u, '')
    .toUpperCase();
  return KEYWORDS.get(word);
}

/** The confirmation each keyword gets (carriers require one for STOP and HELP); `help` is SMS_HELP_TEXT. */
export function keywordReply(keyword: SmsKeyword, help: string): string {
  switch (keyword) {
    case 'stop':
      return 'You are unsubscribed and will receive no more text messages from us. Reply START to subscribe again.';
    case 'start':
      return 'You are subscribed to our text messages again. Reply HELP for help, STOP to unsubscribe.';
    case 'help':
      return help;
    default:
      return unreachableKeyword(keyword);
  }
}

function unreachableKeyword(keyword: never): never {
  throw new Error(`unhandled SMS keyword ${String(keyword)}`);
}
