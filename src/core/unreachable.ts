/**
 * The default branch of an exhaustive switch over a tagged union: `default: return unreachable(x)` does
 * not compile while a variant is unhandled, and says which value got through if untyped data did.
 */
export function unreachable(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
