import express, { type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { Scope } from '../config/config.js';
import type { Models } from '../db/models.js';
import { LiveVersionMoved, type DefinitionStore } from '../definition-store/definition-store.js';
import { DefinitionError, parseDefinition, type LoadedDefinition } from '../definition-store/load-definition.js';
import { runPublishGate, type GateResult, type GateSimulation } from '../definition-store/publish-gate.js';
import { mergeModel, parseBehaviourModel, BehaviourModelError, type BehaviourModel } from '../sim/behaviour-model.js';
import type { Authenticated } from '../http/auth.js';
import {
  CheckDefinitionBody,
  DefinitionVersionParams,
  GateSimulationInput,
  PublishDefinitionBody,
  RollbackDefinitionBody,
  SimulateDefinitionBody,
} from './definition-schemas.js';
import { HttpError, invalid, viaMongo } from '../http/errors.js';

export interface DefinitionRouteDeps {
  store: DefinitionStore;
  models: Models;
  /** The default behaviour model as authored (definitions/coachinglive-behaviour.yaml), which a team's own model is merged over. */
  defaultModel: unknown;
  /** After a version became live (the broadcast schedules follow it). */
  onPublished?: (loaded: LoadedDefinition) => Promise<void>;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(result.error, what);
  return result.data;
}

const violationsOf = (err: DefinitionError) => err.violations.map((v) => ({ path: v.path, message: v.message, code: 'invalid_definition' }));

function candidateOf(raw: unknown): LoadedDefinition {
  try {
    return parseDefinition(raw, 'the definition');
  } catch (err) {
    if (err instanceof DefinitionError) throw new HttpError(422, 'refused', `the definition is invalid (${err.violations.length} ${err.violations.length === 1 ? 'violation' : 'violations'})`, violationsOf(err));
    throw err;
  }
}

function simulationOf(input: z.infer<typeof GateSimulationInput> | undefined, defaultModel: unknown): GateSimulation {
  const sim = GateSimulationInput.parse(input ?? {});
  let model: BehaviourModel;
  try {
    model = parseBehaviourModel(sim.model ? mergeModel(defaultModel, sim.model) : defaultModel, sim.model ? 'the request’s model (over the default)' : 'definitions/coachinglive-behaviour.yaml');
  } catch (err) {
    if (err instanceof BehaviourModelError) throw new HttpError(422, 'refused', err.message);
    throw err;
  }
  return { customers: sim.customers, days: sim.days, seed: sim.seed, model, modelName: sim.model ? 'the team’s model over the default' : 'definitions/coachinglive-behaviour.yaml' };
}

/**
 * /v1/definitions: the journey definition's versions, checked, simulated and published through the gate.
 * Publishing is two calls: a preview (changes, journeys reached, both versions simulated side by side) that
 * answers a confirm token, and the same call with the token, which commits. The token binds the commit to
 * the live version it was previewed against, so a publish in between makes it fail rather than overwrite.
 */
export function definitionRoutes(deps: DefinitionRouteDeps | undefined, scope: (s: Scope) => RequestHandler): express.Router {
  const router = express.Router();
  const json = (limit: string) => express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] });
  const need = (): DefinitionRouteDeps => {
    if (!deps) throw new HttpError(404, 'not_configured', 'this API manages no journey definitions');
    return deps;
  };
  const definitionId = () => need().store.current.definition.id;
  const liveDefinition = async (): Promise<LoadedDefinition | null> => {
    const { store } = need();
    const version = await viaMongo(() => store.liveVersion(definitionId()));
    return version === null ? null : viaMongo(() => store.get({ id: definitionId(), version }));
  };

  /** A valid definition of the journey this API manages (another journey's is refused before anything runs). */
  const ownCandidate = (raw: unknown): LoadedDefinition => {
    const candidate = candidateOf(raw);
    if (candidate.definition.id !== definitionId()) throw new HttpError(422, 'refused', `this API manages journey "${definitionId()}", not "${candidate.definition.id}"`);
    return candidate;
  };

  const gate = async (res: Response, candidate: LoadedDefinition, body: { note: string; confirm?: string; simulation?: z.infer<typeof GateSimulationInput> }, kind: 'publish' | 'rollback') => {
    const d = need();
    const live = await liveDefinition();
    const confirming = body.confirm !== undefined;
    const result: GateResult = await viaMongo(() =>
      runPublishGate({ models: d.models, live, candidate, ...(confirming ? {} : { sim: simulationOf(body.simulation, d.defaultModel) }) }),
    );
    if (result.refusals.length > 0) {
      throw new HttpError(409, 'refused', `version ${candidate.version} may not be published: ${result.refusals.length === 1 ? result.refusals[0] : `${result.refusals.length} reasons`}`, result.refusals.map((message) => ({ path: 'definition', message, code: 'refused' })));
    }
    if (result.confirmToken === null) return res.status(200).json({ status: 'unchanged', ...result });
    if (!confirming) return res.status(200).json({ status: 'preview', ...result });
    if (body.confirm !== result.confirmToken) {
      throw new HttpError(409, 'live_version_moved', `the confirm token does not match: the live version is ${result.live ?? '(none)'} now; preview again`);
    }
    const auth = res.locals.auth as Authenticated;
    try {
      const publication = await viaMongo(() => d.store.makeLive({ loaded: candidate, kind, by: auth.keyId, note: body.note, expectedFrom: result.live }));
      await d.onPublished?.(candidate);
      return res.status(201).json({ status: 'published', ...result, confirmToken: null, publication });
    } catch (err) {
      if (err instanceof LiveVersionMoved) throw new HttpError(409, 'live_version_moved', err.message);
      throw err;
    }
  };

  router.get('/v1/definitions', scope('definitions:read'), async (_req, res) => {
    const { store } = need();
    const id = definitionId();
    const [versions, live] = await viaMongo(() => Promise.all([store.list(id), store.liveVersion(id)]));
    res.json({ definitionId: id, live, versions });
  });

  router.post('/v1/definitions/check', scope('definitions:read'), json('1mb'), async (req, res) => {
    const body = parse(CheckDefinitionBody, req.body, 'check');
    const live = await viaMongo(() => need().store.liveVersion(definitionId()));
    try {
      const loaded = parseDefinition(body.definition, 'the definition');
      res.json({ valid: true, version: loaded.version, live, violations: [] });
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      res.json({ valid: false, live, violations: violationsOf(err) });
    }
  });

  router.post('/v1/definitions/simulate', scope('definitions:read'), json('1mb'), async (req, res) => {
    const body = parse(SimulateDefinitionBody, req.body, 'simulation');
    const d = need();
    const candidate = ownCandidate(body.definition);
    const live = await liveDefinition();
    const result = await viaMongo(() => runPublishGate({ models: d.models, live, candidate, sim: simulationOf(body.simulation, d.defaultModel) }));
    // A simulation is never a commit: no token.
    res.json({ status: 'preview', ...result, confirmToken: null });
  });

  router.post('/v1/definitions/publish', scope('definitions:write'), json('1mb'), async (req, res) => {
    const body = parse(PublishDefinitionBody, req.body, 'publish');
    await gate(res, ownCandidate(body.definition), body, 'publish');
  });

  router.post('/v1/definitions/rollback', scope('definitions:write'), json('16kb'), async (req, res) => {
    const body = parse(RollbackDefinitionBody, req.body, 'rollback');
    const candidate = await viaMongo(() => need().store.find(definitionId(), body.version));
    if (!candidate) throw new HttpError(404, 'not_found', `no stored version ${body.version} of journey "${definitionId()}"`);
    await gate(res, candidate, body, 'rollback');
  });

  router.get('/v1/definitions/versions/:version', scope('definitions:read'), async (req, res) => {
    const { version } = parse(DefinitionVersionParams, req.params, 'path');
    const { store, models } = need();
    const id = definitionId();
    const doc = await viaMongo(() => models.Definition.findById(`${id}@${version}`).lean());
    if (!doc) throw new HttpError(404, 'not_found', `no stored version ${version} of journey "${id}"`);
    const [versions] = await viaMongo(() => Promise.all([store.list(id)]));
    const entry = versions.find((v) => v.version === version);
    res.json({ definitionId: id, version, live: entry?.live ?? false, publications: entry?.publications ?? [], definition: JSON.parse(doc.json) as unknown });
  });

  return router;
}
