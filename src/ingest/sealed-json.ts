import { defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';

/** A JSON value as stored in MongoDB: a Temporal payload, encrypted by the journeys' payload codec. */
export interface Sealed {
  metadata: Record<string, Buffer>;
  data: Buffer;
}

/**
 * Personal data kept outside Temporal (refused calls, a visitor's calls before they are identified) is
 * encrypted exactly as journeys' payloads are: the same codec and keys (PAYLOAD_KEYS), so key rotation and
 * `PAYLOAD_ENCRYPTION=off` mean the same here.
 */
export class SealedJson {
  constructor(private readonly codec: PayloadCodec | undefined) {}

  async seal(value: unknown): Promise<Sealed> {
    const plain = defaultPayloadConverter.toPayload(value);
    const [payload] = this.codec ? await this.codec.encode([plain]) : [plain];
    return {
      metadata: Object.fromEntries(Object.entries(payload!.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
      data: Buffer.from(payload!.data ?? new Uint8Array()),
    };
  }

  async open<T>(sealed: { metadata?: unknown; data?: unknown }): Promise<T> {
    const bytes = (v: unknown) => new Uint8Array(Buffer.isBuffer(v) ? v : ((v as { buffer?: Uint8Array })?.buffer ?? (v as Uint8Array)));
    const metadata = Object.fromEntries(Object.entries((sealed.metadata ?? {}) as Record<string, unknown>).map(([k, v]) => [k, bytes(v)]));
    const payload: Payload = { metadata, data: bytes(sealed.data) };
    const [plain] = this.codec ? await this.codec.decode([payload]) : [payload];
    return defaultPayloadConverter.fromPayload<T>(plain!);
  }
}
