import fc from 'fast-check';

/**
 * JSON as text, built from a small tree so the fuzzers can write what JavaScript objects cannot hold or
 * JSON.stringify would never produce: an own `__proto__` key, duplicate keys, numbers such as 1e309 or -0,
 * and nesting thousands of levels deep.
 */
export type Json = null | boolean | number | string | RawJson | Json[] | JsonObject;

/** Text written as it is (a number token, a deep nest). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object as its entries, in order; keys may repeat and may be `__proto__`. */
export class JsonObject {
  constructor(readonly entries: Array<[string, Json]>) {}
}

export function toJsonText(value: Json): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof JsonObject) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  // JSON.stringify writes a lone surrogate as \udXXX, so the text stays valid UTF-8 and the server sees it.
  return JSON.stringify(value);
}

/** A plain value (a documented example) as a tree. */
export function fromPlain(value: unknown): Json {
  if (Array.isArray(value)) return value.map(fromPlain);
  if (value !== null && typeof value === 'object') return new JsonObject(Object.entries(value).map(([k, v]) => [k, fromPlain(v)]));
  return value as Json;
}

export const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  'x\udc00',
  'a\ud83d',
  '{{ 7*7 }}',
  '{{ profile.email }}',
  '{% raw %}{{ x }}{% endraw %}',
  "{% include 'secret' %}",
  '{{ "a" | upcase }}',
  '<script>alert(1)</script>',
  '\u202eevil\u202c',
  'a\u200bb\u200d',
  '\ufeff',
  'e\u0301\u0301',
  '👩‍👩‍👧‍👦',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '$where',
  '__proto__',
  'constructor',
  'traits.email',
  '{"$gt": ""}',
  'x'.repeat(300),
  'x'.repeat(20_000),
  'y'.repeat(70_000),
];

export const HOSTILE_KEYS = [
  '$where',
  '$gt',
  '$ne',
  '$set',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'a.b',
  '.',
  '',
  ' ',
  ' a',
  'a ',
  '\u00a0',
  '\u0085x',
  '\u0000',
  'traits',
  '_id',
  'email',
  '\ud800',
  'k'.repeat(5_000),
];

/** Number tokens at the edges of what JSON.parse, zod, BSON and FerretDB agree on. */
export const NUMBER_TOKENS = ['1e309', '-1e309', '-0', '1e-400', '9007199254740993', '1E2', '0.1e1', '4.9e-324', '1.7976931348623157e308', '-2147483649'];

export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
);
export const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_KEYS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
);
const hostileNumber: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...NUMBER_TOKENS).map((t) => new RawJson(t)),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);
/** Arrays or objects nested past any depth limit, as text (a tree that deep would overflow this process too). */
const deepNest: fc.Arbitrary<Json> = fc
  .tuple(fc.integer({ min: 9, max: 30_000 }), fc.boolean())
  .map(([depth, arrays]) => new RawJson(arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)));

export const hostileLeaf: fc.Arbitrary<Json> = fc.oneof(hostileString, hostileNumber, fc.constantFrom<Json>(null, true, false, [], new JsonObject([])));

/** Any JSON value, with hostile keys and leaves, up to a few levels, sometimes nested past every limit. */
export const hostileJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: hostileLeaf },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    {
      weight: 2,
      arbitrary: fc.array(fc.tuple(fc.oneof(hostileKey, fc.string({ maxLength: 8 })), tie('value')), { maxLength: 4 }).map((e) => new JsonObject(e)),
    },
    { weight: 1, arbitrary: deepNest },
  ),
})).value;

/** Paths to every value inside a tree, as positions (an object's entry, an array's element). */
function pathsOf(value: Json, path: number[] = []): number[][] {
  const children = value instanceof JsonObject ? value.entries.map(([, v]) => v) : Array.isArray(value) ? value : [];
  return [path, ...children.flatMap((v, i) => pathsOf(v, [...path, i]))];
}

function nodeAt(value: Json, path: number[]): Json {
  return path.reduce<Json>((node, i) => (node instanceof JsonObject ? node.entries[i]![1] : (node as Json[])[i]!), value);
}

function replaceAt(value: Json, path: number[], make: (old: Json) => Json | undefined): Json | undefined {
  if (path.length === 0) return make(value);
  const [head, ...rest] = path as [number, ...number[]];
  if (value instanceof JsonObject) {
    const entries = value.entries.flatMap(([k, v], i): Array<[string, Json]> => {
      if (i !== head) return [[k, v]];
      const next = replaceAt(v, rest, make);
      return next === undefined ? [] : [[k, next]];
    });
    return new JsonObject(entries);
  }
  if (Array.isArray(value)) {
    return value.flatMap((v, i) => {
      if (i !== head) return [v];
      const next = replaceAt(v, rest, make);
      return next === undefined ? [] : [next];
    });
  }
  return value;
}

export type Mutation =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'addKey'; at: number; key: string; value: Json }
  | { kind: 'remove'; at: number };

/** Plain values and keys next to the hostile ones: a null trait, an empty string, a new free trait. */
const mutationValue = fc.oneof({ weight: 2, arbitrary: hostileJson }, { weight: 1, arbitrary: fc.constantFrom<Json>(null, '', 0, -1, true, 'plain', [], new JsonObject([])) });
const mutationKey = fc.oneof({ weight: 2, arbitrary: hostileKey }, { weight: 1, arbitrary: fc.constantFrom('goal', 'plan', 'nickname', 'score', 'email', 'timezone') });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: mutationValue }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('addKey' as const), at: fc.nat(), key: mutationKey, value: mutationValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }) },
);

/** A valid body with one hostile change somewhere inside it (the change's position taken modulo the paths). */
export function mutate(base: Json, m: Mutation): Json {
  const paths = pathsOf(base);
  if (m.kind === 'addKey') {
    const objects = paths.filter((p) => nodeAt(base, p) instanceof JsonObject);
    const at = objects[m.at % objects.length] ?? [];
    return replaceAt(base, at, (old) => (old instanceof JsonObject ? new JsonObject([...old.entries, [m.key, m.value]]) : old)) ?? null;
  }
  const at = paths[m.at % paths.length]!;
  if (m.kind === 'remove') return at.length === 0 ? base : (replaceAt(base, at, () => undefined) ?? null);
  return replaceAt(base, at, () => m.value) ?? null;
}
