/**
 * A test reporter beside TAP (scripts/test.sh runs both): after the last file it prints every test that failed
 * or was cancelled, with its file, the suites it sits in, why, and where. CI keeps only the tail of what a run
 * prints, and a suite whose `before` hook failed shows there only as "cancelled N". Plain JavaScript: Node loads
 * reporters before tsx is registered.
 */
import process from 'node:process';

/** @param {unknown} error */
function reasonOf(error) {
  const e = /** @type {{ failureType?: string; cause?: unknown } | undefined} */ (error);
  const cause = /** @type {{ message?: string; stack?: string; details?: string } | string | undefined} */ (e?.cause ?? e);
  const message = typeof cause === 'string' ? cause : [cause?.message ?? String(cause), cause?.details].filter(Boolean).join(': ');
  const stack = typeof cause === 'string' ? '' : (cause?.stack ?? '');
  const where = stack
    .split('\n')
    .filter((line) => /\/(test|src|workflows|activities|bench)\//.test(line) && !line.includes('node_modules'))
    .slice(0, 3)
    .map((line) => line.trim())
    .join(' < ');
  return { type: e?.failureType ?? 'unknown', message: message.replace(/\s+/g, ' ').slice(0, 600), where };
}

/** @param {AsyncIterable<{ type: string; data: any }>} source */
export default async function* failureSummary(source) {
  /** @type {Array<{ file: string; path: string[]; type: string; message: string; where: string }>} */
  const failures = [];
  // The names of the tests each file has open, by nesting depth (a fail event names only its own test).
  /** @type {Map<string, string[]>} */
  const open = new Map();
  for await (const event of source) {
    if (event.type !== 'test:start' && event.type !== 'test:fail') continue;
    const { data } = event;
    const file = data.file ?? '(unknown file)';
    const names = open.get(file) ?? [];
    open.set(file, names);
    if (event.type === 'test:start') {
      names.length = data.nesting;
      names[data.nesting] = data.name;
      continue;
    }
    failures.push({ file, path: [...names.slice(0, data.nesting), data.name], ...reasonOf(data.details?.error) });
  }
  if (failures.length === 0) return;
  // What followed from another failure is counted under it, not listed: cancelled with their suite, a suite
  // failed because a test in it did.
  const key = (/** @type {string} */ file, /** @type {string[]} */ path) => `${file}\u0000${path.join('\u0000')}`;
  /** @type {Map<string, number>} */
  const cancelledUnder = new Map();
  for (const f of failures) {
    if (f.type !== 'cancelledByParent') continue;
    const parent = key(f.file, f.path.slice(0, -1));
    cancelledUnder.set(parent, (cancelledUnder.get(parent) ?? 0) + 1);
  }
  const causes = failures.filter((f) => f.type !== 'cancelledByParent' && f.type !== 'subtestsFailed');
  yield `\n# What failed or was cancelled, and why (${failures.length} tests, suites and files in all):\n`;
  for (const f of causes) {
    const cancelled = cancelledUnder.get(key(f.file, f.path));
    yield `#  - ${f.file.replace(`${process.cwd()}/`, '')}: ${f.path.join(' > ')}\n#      ${f.type}: ${f.message}${cancelled ? ` (${cancelled} tests in it cancelled)` : ''}\n`;
    if (f.where) yield `#      at ${f.where}\n`;
  }
}
