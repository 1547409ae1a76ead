/** Streams of rows, as the store's port gives them (storage/port.ts). */

/** Every row of a stream, in order. */
export async function collect<T>(rows: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

/** Each row of a stream turned into another, as they come. */
export async function* mapRows<T, U>(rows: AsyncIterable<T> | Iterable<T>, f: (row: T) => U): AsyncIterable<U> {
  for await (const r of rows) yield f(r);
}
