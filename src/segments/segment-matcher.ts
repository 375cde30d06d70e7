import siftModule from 'sift';

/** sift is CommonJS: its tester is the module's default export, which ESM and TypeScript see one level apart. */
const sift = ((siftModule as unknown as { default?: unknown }).default ?? siftModule) as (query: unknown) => (doc: unknown) => boolean;

export type ProfileTest = (profile: unknown) => boolean;

const cache = new Map<string, ProfileTest>();

/**
 * A segment filter (a MongoDB query on the customer profile) as a test of one profile document, the way
 * MongoDB would match it (sift implements the query language; the definition allows only the operators
 * both agree on, see SEGMENT_OPERATORS in src/core/journey-definition.ts).
 *
 * Why not ask the database: a lookup is always about one customer, so one read by `_id` (the primary key,
 * constant cost on any server) and matching every segment here replaces a query per segment, and it does
 * not depend on the server's planner: FerretDB 1.x scans the whole collection for `_id` combined with `$or`
 * or dotted paths, which made each lookup grow with the number of profiles (bench: `npm run bench -- segments`).
 */
export function profileTest(filter: Record<string, unknown>): ProfileTest {
  const key = JSON.stringify(filter);
  let test = cache.get(key);
  if (!test) {
    test = sift(filter);
    if (cache.size > 1_000) cache.clear();
    cache.set(key, test);
  }
  return test;
}
