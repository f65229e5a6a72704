import { inspect } from 'node:util';

const REDACTED = '[redacted token]';

/**
 * A bearer token (user access token or client-credentials token) wrapped so that it never reaches a log by
 * accident: `String()`, `JSON.stringify`, template literals and `util.inspect`/`console.log` all print
 * `[redacted token]`. Only {@link SecretToken.reveal} gives the raw value — call it only to put the token into an
 * `Authorization` header of an outgoing request to UAA, Cloud Controller or the BOSH director.
 */
export class SecretToken {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The raw token. Never log it, never put it into an error message. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
