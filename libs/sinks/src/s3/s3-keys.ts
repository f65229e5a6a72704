/** Names of a capture's objects: `<prefix><org>/<space>/<app>/<capture-id>/<part>.pcapng`. */

/** One path segment: every character outside `A-Za-z0-9-_.!~*'()` percent-encoded, so names map one-to-one. */
export function keySegment(name: string): string {
  return encodeURIComponent(name);
}

/** `<prefix><org>/<space>/<app>/` of an app's captures. */
export function appKeyPrefix(prefix: string, names: { org: string; space: string; app: string }): string {
  return `${prefix}${keySegment(names.org)}/${keySegment(names.space)}/${keySegment(names.app)}/`;
}

/** `<app prefix><capture-id>/` */
export function captureKeyPrefix(
  prefix: string,
  names: { org: string; space: string; app: string },
  captureId: string,
): string {
  return `${appKeyPrefix(prefix, names)}${keySegment(captureId)}/`;
}

/** Part numbers are zero-padded so that keys sort in capture order. */
export function partKey(capturePrefix: string, part: number): string {
  return `${capturePrefix}${String(part).padStart(6, '0')}.pcapng`;
}

/** The part number of a key made by {@link partKey}, or undefined. */
export function partOfKey(key: string): number | undefined {
  const m = /\/(\d{6,})\.pcapng$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

/** `x-amz-copy-source`: bucket and key with every segment URL-encoded. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
