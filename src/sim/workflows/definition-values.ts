/**
 * What workflow code takes from src/core/definition.ts at run time: its constants, without the zod schemas.
 * The simulator's bundle resolves the core's `./definition.js` here (see bundleSimulationWorkflows): the
 * bundle evaluates every module once per workflow, and building the schemas for each of thousands of
 * journeys was most of the cost of starting one.
 */
export const PREVIOUS_STAGE = '@previous';
