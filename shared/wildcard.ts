/** A matcher for a pattern where `*` is any run of characters and everything else is literal. */
export function wildcard(pattern: string): (value: string) => boolean {
  if (!pattern.includes('*')) return (v) => v === pattern;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (v) => re.test(v);
}
