import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

/** AES-256: every key is 32 bytes. */
export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/**
 * The keys payloads are encrypted with. The first (primary) key encrypts; every key decrypts, so a key
 * can be rotated by putting a new one first and keeping the old ones until no history needs them.
 * Never printed: inspecting or serialising it shows the key ids only.
 */
export class PayloadKeys {
  private constructor(
    readonly primaryId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
  ) {}

  /**
   * `id:base64key,id:base64key` (PAYLOAD_KEYS), the first one encrypting. Throws with every problem found;
   * no message ever contains key material.
   */
  static parse(text: string): PayloadKeys {
    const problems: string[] = [];
    const keys = new Map<string, Buffer>();
    const entries = text
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    if (entries.length === 0) problems.push('give at least one key as id:base64key');
    entries.forEach((entry, index) => {
      const colon = entry.indexOf(':');
      const id = colon < 0 ? '' : entry.slice(0, colon).trim();
      const material = colon < 0 ? '' : entry.slice(colon + 1).trim();
      const where = KEY_ID.test(id) ? `key "${id}"` : `entry ${index + 1}`;
      if (!KEY_ID.test(id)) {
        problems.push(`${where}: write id:base64key, the id 1-64 letters, digits, _ . or -`);
        return;
      }
      if (keys.has(id)) {
        problems.push(`${where} is given twice`);
        return;
      }
      const bytes = BASE64.test(material) ? Buffer.from(material, material.includes('-') || material.includes('_') ? 'base64url' : 'base64') : undefined;
      if (!bytes || bytes.length !== KEY_BYTES) {
        problems.push(`${where}: the key must be ${KEY_BYTES} random bytes in base64 (openssl rand -base64 32), got ${bytes ? `${bytes.length} bytes` : 'no base64'}`);
        return;
      }
      keys.set(id, bytes);
    });
    if (problems.length > 0) throw new PayloadKeysError(problems);
    return new PayloadKeys(entries[0]!.slice(0, entries[0]!.indexOf(':')).trim(), keys);
  }

  /** A fresh key in the PAYLOAD_KEYS format, e.g. for `npm start`'s development key. */
  static generate(id: string): string {
    if (!KEY_ID.test(id)) throw new PayloadKeysError([`key id "${id}" must be 1-64 letters, digits, _ . or -`]);
    return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
  }

  get ids(): string[] {
    return [...this.keys.keys()];
  }

  /** The primary key, the one that encrypts. */
  primary(): { id: string; key: Buffer } {
    return { id: this.primaryId, key: this.keys.get(this.primaryId)! };
  }

  key(id: string): Buffer | undefined {
    return this.keys.get(id);
  }

  toJSON(): { primary: string; ids: string[] } {
    return { primary: this.primaryId, ids: this.ids };
  }

  toString(): string {
    return `PayloadKeys(primary ${this.primaryId}; ${this.ids.join(', ')})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export class PayloadKeysError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PayloadKeysError';
  }
}
