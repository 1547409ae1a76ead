/** `obj[key] = value` as JSON.parse sets a member: an own property, also for `__proto__` (a ConfigMap key may be named so). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
