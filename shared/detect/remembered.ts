/**
 * Answers by address, remembered: the same few addresses make most requests, and Node's
 * BlockList builds an object per check. Forgets everything when full.
 */
export function remembered<T>(answer: (address: string) => T, size = 4096): (address: string) => T {
  const known = new Map<string, T>();
  return (address) => {
    let v = known.get(address);
    if (v === undefined && !known.has(address)) {
      if (known.size >= size) known.clear();
      known.set(address, (v = answer(address)));
    }
    return v as T;
  };
}
