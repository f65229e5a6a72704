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
export { LiveCapture } from './engine/live-capture';
export { IsolatedCapture } from './engine/isolated-capture';
export { GcPacer } from './engine/gc-pacer';
export type { CaptureStats, PacketSource } from './engine/packet-source';
export { compileFilter, libpcapVersion, LINKTYPE_ETHERNET } from './engine/bpf-filter';
export { listDevices, type DeviceInfo } from './engine/devices';
export {
  PcapngBlockType,
  CommonOption,
  ShbOption,
  IdbOption,
  IsbOption,
  LinkType,
  TSRESOL_NS,
  TSRESOL_US,
  DEFAULT_MAX_BLOCK_BYTES,
} from './pcapng/pcapng.constants';
export { CaptureFormatError } from './pcapng/capture-format.error';
export { unitsToNs, nsToUnits, ticksPerSecond } from './pcapng/timestamp-resolution.util';
export { type PcapngOption } from './pcapng/pcapng-options.codec';
export {
  encodeSectionHeader,
  encodeInterfaceDescription,
  encodeEnhancedPacket,
  encodeInterfaceStatistics,
  type SectionHeaderOptions,
  type InterfaceDescription,
  type PacketRecord,
  type InterfaceStatistics,
} from './pcapng/pcapng-block.encoder';
export {
  CONTROL_MESSAGE_TYPES,
  isControlMessageType,
  nowNs,
  type ControlMessage,
  type ControlMessageType,
  type ControlMessageFields,
} from './pcapng/control-message.model';
export { PCAP_CF_PEN, encodeControlMessage, describeControlMessage } from './pcapng/control-message.codec';
export { PcapngWriter, stampInterfaceId, type WrittenInterface } from './pcapng/pcapng.writer';
export {
  PcapngBlockParser,
  packetsOfRun,
  type PcapngParserOptions,
  type PcapngEvent,
  type PcapngSectionEvent,
  type PcapngInterfaceEvent,
  type PcapngPacketsEvent,
  type PcapngPacketEvent,
  type PcapngSimplePacketEvent,
  type PcapngStatisticsEvent,
  type PcapngMessageEvent,
  type ReadInterface,
  type RunPacket,
} from './pcapng/pcapng-block.parser';
export { PcapngReader, readPcapng, type PcapngReaderOptions } from './pcapng/pcapng-stream.reader';
export {
  PcapWriter,
  PCAP_MAGIC_MICRO,
  PCAP_MAGIC_NANO,
  type PcapPrecision,
  type PcapWriterOptions,
} from './pcap/pcap.writer';
export {
  PcapReader,
  PcapRecordParser,
  readPcap,
  type PcapEvent,
  type PcapHeaderEvent,
  type PcapPacketEvent,
  type PcapParserOptions,
} from './pcap/pcap-stream.reader';
export {
  PcapngMerge,
  mergePcapng,
  type MergeInput,
  type MergeStats,
  type PcapngMergeOptions,
} from './merge/pcapng-merge.stream';
export {
  BoundedPacketQueue,
  type BoundedPacketQueueOptions,
  type Watermark,
  type ItemSize,
  type QueueCounters,
  type CongestionStart,
  type CongestionEnd,
} from './flow/bounded-packet.queue';
