/**
 * Maps `items` through `fn` with at most `limit` calls pending at once; results keep the input order.
 * `fn` must not throw (a rejection rejects the whole map, with the others still running).
 * @example await mapLimit(actions, 8, (a) => runTool(tools, a, ctx))
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}
