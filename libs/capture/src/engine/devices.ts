import { fromNativeError } from './native-errors';
import { nativeAddon, type NativeDevice } from './native-binding';

export type DeviceInfo = NativeDevice;

/**
 * Lists the network devices of a namespace (default: the process's own). The namespace is entered from a
 * short-lived native thread; the calling thread never changes namespace.
 */
export function listDevices(options: { netns?: string } = {}): DeviceInfo[] {
  try {
    return nativeAddon().listDevices(options.netns);
  } catch (err) {
    throw fromNativeError(err);
  }
}
