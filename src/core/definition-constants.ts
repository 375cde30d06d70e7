/**
 * The constants of journey definitions that workflow code needs at run time, in a module without the zod
 * schemas: the workflow bundle evaluates every module it imports once per workflow, so a journey that
 * imported src/core/journey-definition.ts built every schema again (about a megabyte of heap per cached journey).
 */

/** A transition target meaning "the stage the customer was in before this one". */
export const PREVIOUS_STAGE = '@previous';

/** A message that names no channel is an email, as it was before there was a choice (channel-ids.ts checks it is a channel). */
export const DEFAULT_CHANNEL = 'email';
