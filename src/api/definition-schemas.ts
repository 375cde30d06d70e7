import { z } from 'zod';
import { DefinitionVersion } from '../definition-store/load-definition.js';
import { Issue } from './response-schemas.js';

export { DefinitionVersion };
export const DefinitionVersionParams = z.strictObject({ version: DefinitionVersion });

/** A definition as authored (YAML read into JSON by the caller); checked in full by the journey schema and graph checks. */
const DefinitionDocument = z
  .record(z.string(), z.unknown())
  .meta({ description: 'The journey definition as authored (definitions/coachinglive.yaml read as JSON). Checked in full, every violation listed.' });

const Note = z.string().trim().min(1).max(500).meta({ description: 'Why: kept with the publication and shown in the list.' });
const Confirm = z.string().regex(/^[0-9a-f]{16}$/).meta({ description: 'The confirmToken the preview answered; binds the commit to the live version it was previewed against.' });

export const GateSimulationInput = z
  .strictObject({
    customers: z.number().int().min(1).max(2_000).default(100),
    days: z.number().int().min(1).max(365).default(90),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    /** The team's own behaviour model, merged over the default (definitions/coachinglive-behaviour.yaml). */
    model: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ description: 'The synthetic customers both versions run on (same seed, same model). Defaults: 100 customers x 90 days, seed 1, the default behaviour model.' });

export const CheckDefinitionBody = z.strictObject({ definition: DefinitionDocument });
export const SimulateDefinitionBody = z.strictObject({ definition: DefinitionDocument, simulation: GateSimulationInput.optional() });
export const PublishDefinitionBody = z.strictObject({
  definition: DefinitionDocument,
  note: Note,
  confirm: Confirm.optional(),
  simulation: GateSimulationInput.optional(),
});
export const RollbackDefinitionBody = z.strictObject({
  version: DefinitionVersion,
  note: Note,
  confirm: Confirm.optional(),
  simulation: GateSimulationInput.optional(),
});

const Publication = z.strictObject({
  id: z.string(),
  version: z.string(),
  from: z.string().nullable(),
  kind: z.enum(['seed', 'publish', 'rollback']),
  by: z.string().meta({ description: 'The id of the API key that published (the first 8 hex digits of its SHA-256), or DEFINITION_FILE' }),
  note: z.string(),
  at: z.string(),
});

export const DefinitionList = z
  .strictObject({
    definitionId: z.string(),
    live: z.string().nullable(),
    versions: z.array(z.strictObject({ version: z.string(), storedAt: z.string(), live: z.boolean(), publications: z.array(Publication) })),
  })
  .meta({ id: 'DefinitionList' });

export const DefinitionShown = z
  .strictObject({
    definitionId: z.string(),
    version: z.string(),
    live: z.boolean(),
    publications: z.array(Publication),
    definition: z.unknown().meta({ description: 'The definition as authored' }),
  })
  .meta({ id: 'DefinitionShown' });

export const DefinitionCheck = z
  .strictObject({
    valid: z.boolean(),
    version: z.string().optional(),
    live: z.string().nullable(),
    violations: z.array(Issue).meta({ description: 'Every violation (path and message), as the loader reports them' }),
  })
  .meta({ id: 'DefinitionCheck' });

const Change = z.strictObject({
  subject: z.string(),
  id: z.string(),
  change: z.enum(['added', 'removed', 'changed']),
  description: z.string(),
  stages: z.union([z.array(z.string()), z.literal('*')]),
  blocks: z.string().optional(),
  journeys: z.number().int().meta({ description: 'Live journeys the change reaches (read model: customers standing in its stages)' }),
});
const ComparisonRow = z.strictObject({ metric: z.string(), a: z.number().nullable(), b: z.number().nullable(), difference: z.number().nullable(), unit: z.enum(['count', 'percent']) });

export const PublishGate = z
  .strictObject({
    status: z.enum(['preview', 'published', 'unchanged']),
    definitionId: z.string(),
    live: z.string().nullable(),
    candidate: z.string(),
    liveJourneys: z.number().int(),
    changes: z.array(Change),
    refusals: z.array(z.string()),
    simulation: z
      .strictObject({
        customers: z.number(),
        days: z.number(),
        seed: z.number(),
        model: z.string(),
        live: z.unknown(),
        candidate: z.unknown(),
        comparison: z.array(ComparisonRow).meta({ description: 'a = live, b = candidate' }),
      })
      .nullable(),
    confirmToken: z.string().nullable(),
    publication: Publication.optional(),
  })
  .meta({ id: 'PublishGate', description: 'What publishing would do (preview), or what it did (published).' });
