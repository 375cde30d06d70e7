import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Liquid } from 'liquidjs';
import YAML from 'yaml';
import { z } from 'zod';
import { JourneyDefinition, type JourneyPlan } from '../core/journey-definition.js';
import { untagDefinition } from '../core/definition-tags.js';
import { validateDefinitionGraph, type Violation } from '../core/validate-definition.js';

export class DefinitionError extends Error {
  constructor(
    readonly source: string,
    readonly violations: Violation[],
  ) {
    super(`journey definition ${source} is invalid:\n${violations.map((v) => `  - ${v.path || '(root)'}: ${v.message}`).join('\n')}`);
    this.name = 'DefinitionError';
  }
}

/** A version is the first 12 hex digits of the definition's content hash (as parseDefinition makes it). */
export const DefinitionVersion = z.string().regex(/^[0-9a-f]{12}$/, 'a version is 12 hex digits (lifecycle definitions list shows them)');

export interface LoadedDefinition {
  definition: JourneyDefinition;
  /** What the workflow carries out: the definition without message bodies, with its version. */
  plan: JourneyPlan;
  version: string;
  /** The definition as authored (before defaults and duration parsing): what is stored, and re-parsed. */
  raw: unknown;
}

const liquid = new Liquid({ strictFilters: true });

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A union reports "Invalid input"; say what each alternative wanted instead, when one came close. */
function flattenIssue(issue: z.core.$ZodIssue, prefix: PropertyKey[] = []): Violation[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // The alternative with the fewest problems is the one the author meant.
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0]!;
    if (best.length > 0 && !best.every((i) => i.code === 'unrecognized_keys')) return best.flatMap((i) => flattenIssue(i, path));
  }
  return [{ path: path.map(String).join('.'), message: issue.message }];
}

/** Validate a definition given as data (already parsed from YAML or JSON); throws DefinitionError listing every problem. */
export function parseDefinition(raw: unknown, source = 'definition'): LoadedDefinition {
  const parsed = JourneyDefinition.safeParse(raw);
  if (!parsed.success) {
    throw new DefinitionError(
      source,
      parsed.error.issues.flatMap((i) => flattenIssue(i)),
    );
  }
  const definition = parsed.data;
  const violations = validateDefinitionGraph(definition);
  definition.templates.forEach((t, i) => {
    for (const [locale, content] of Object.entries(t.locales)) {
      for (const field of ['subject', 'html', 'text'] as const) {
        const text = content[field];
        if (text === undefined) continue;
        try {
          liquid.parse(text);
        } catch (err) {
          violations.push({ path: `templates[${i}].locales.${locale}.${field}`, message: `Liquid does not parse: ${(err as Error).message.split('\n')[0]}` });
        }
      }
    }
  });
  if (violations.length > 0) throw new DefinitionError(source, violations);
  // The content hash of the definition as parsed (defaults filled in), without the unions' derived tags.
  const version = createHash('sha256').update(canonicalJson(untagDefinition(definition))).digest('hex').slice(0, 12);
  const { templates: _templates, ...structure } = definition;
  return { definition, plan: { ...structure, version }, version, raw };
}

/** Load a journey definition from a YAML or JSON file. */
export async function loadDefinitionFile(path: string): Promise<LoadedDefinition> {
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new DefinitionError(path, [{ path: '', message: `not valid YAML/JSON: ${(err as Error).message}` }]);
  }
  return parseDefinition(raw, path);
}
