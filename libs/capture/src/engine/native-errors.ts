import {
  CaptureError,
  CaptureFailedError,
  CapturePermissionError,
  DeviceNotFoundError,
  InvalidCaptureOptionError,
  InvalidFilterError,
  NamespaceNotFoundError,
} from '../errors';

/**
 * The message of anything thrown. Read structurally: errors created by the addon belong to the main realm,
 * so `instanceof Error` fails for them inside another context (a vm, Jest's sandbox).
 */
export function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') {
    return err.message;
  }
  return String(err);
}

/** Maps an error thrown by the addon (which carries a string `code`) to the engine's typed errors. */
export function fromNativeError(err: unknown): CaptureError {
  if (err instanceof CaptureError) return err;
  const message = messageOf(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  switch (code) {
    case 'DEVICE_NOT_FOUND':
      return new DeviceNotFoundError(message, { cause: err });
    case 'NAMESPACE_NOT_FOUND':
      return new NamespaceNotFoundError(message, { cause: err });
    case 'PERMISSION_DENIED':
      return new CapturePermissionError(message, { cause: err });
    case 'INVALID_FILTER':
      return new InvalidFilterError(message, { cause: err });
    case 'INVALID_OPTION':
    case 'NAMESPACE_ERROR':
      return new InvalidCaptureOptionError(message, { cause: err });
    default:
      return new CaptureFailedError(message, { cause: err });
  }
}
