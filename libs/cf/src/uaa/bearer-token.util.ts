import { CfAuthError } from '../errors/cf.error';

/**
 * The token from an `Authorization: bearer <jwt>` header (scheme case-insensitive, as UAA clients send both
 * `bearer` and `Bearer`). Throws {@link CfAuthError} `missing_token` or `malformed_token`; the header value is
 * never copied into the message.
 */
export function parseBearerHeader(header: string | readonly string[] | undefined): string {
  if (Array.isArray(header)) {
    if (header.length > 1) throw new CfAuthError('malformed_token', 'Send exactly one Authorization header.');
    return parseBearerHeader(header[0] as string | undefined);
  }
  const value = typeof header === 'string' ? header.trim() : '';
  if (value.length === 0) {
    throw new CfAuthError(
      'missing_token',
      'No access token: send "Authorization: bearer <token>" (cf oauth-token prints one).',
    );
  }
  const match = /^(\S+)\s+(\S+)$/.exec(value);
  if (match === null || match[1]?.toLowerCase() !== 'bearer' || match[2] === undefined) {
    throw new CfAuthError('malformed_token', 'The Authorization header must be "bearer <token>".');
  }
  return match[2];
}
