/**
 * What the `lifecycle` commands share: the API call with the caller's key, tables, and JSON or text out.
 * LIFECYCLE_API_URL (default http://localhost:3000) and LIFECYCLE_API_KEY say where and who.
 */
export interface Options {
  json?: boolean;
}

const apiUrl = () => (process.env.LIFECYCLE_API_URL ?? 'http://localhost:3000').replace(/\/$/, '');

export async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  const key = process.env.LIFECYCLE_API_KEY;
  if (!key) throw new Error('set LIFECYCLE_API_KEY to an API key (npm start prints a development key)');
  let res: Response;
  try {
    res = await fetch(`${apiUrl()}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new Error(`cannot reach the API at ${apiUrl()}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const error = (parsed as { error?: { message?: string; issues?: Array<{ path: string; message: string }> } } | undefined)?.error;
    const issues = error?.issues?.map((i) => `\n  ${i.path || '(body)'}: ${i.message}`).join('') ?? '';
    throw new Error(`${res.status}: ${error?.message ?? text}${issues}`);
  }
  return parsed;
}

export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function print(opts: Options, value: unknown, human: () => string): void {
  process.stdout.write(`${opts.json ? JSON.stringify(value, null, 2) : human()}\n`);
}

