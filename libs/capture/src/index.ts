export * from './errors';
export * from './packet-batch';
export {
  type LiveCaptureOptions,
  SNAPLEN_MIN,
  SNAPLEN_MAX,
  SNAPLEN_DEFAULT,
  FILTER_MAX_LENGTH,
  DEVICE_NAME_MAX_LENGTH,
  deviceNameProblem,
  filterTextProblem,
  netnsOfPid,
  namedNetns,
} from './engine/capture-options';
export { LiveCapture, type CaptureStats } from './engine/live-capture';
export { compileFilter, libpcapVersion, LINKTYPE_ETHERNET } from './engine/bpf-filter';
export { listDevices, type DeviceInfo } from './engine/devices';
