/**
 * Image references as the container runtime resolves them: a first path component with a dot
 * or a colon, or `localhost`, is a registry; otherwise the image is on Docker Hub
 * (`nginx` is `docker.io/library/nginx`). Without its tag or digest.
 */
export function imageLocation(image: string): string {
  const ref = image.split('@')[0]!;
  // The tag is after the last colon that follows the last slash (a registry's port is before it).
  const colon = ref.lastIndexOf(':');
  const name = colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) return name.toLowerCase();
  return `docker.io/${slash < 0 ? `library/${name}` : name}`.toLowerCase();
}

/**
 * Whether an image comes from one of `allowed`: a registry (`registry.example.com`), or a
 * registry and path prefix (`ghcr.io/acme`), matched whole components at a time.
 */
export function imageAllowed(image: string, allowed: readonly string[]): boolean {
  const where = imageLocation(image);
  return allowed.some((entry) => {
    const prefix = entry.toLowerCase().replace(/\/+$/, '');
    return where === prefix || where.startsWith(`${prefix}/`);
  });
}
