/**
 * A bounded FIFO for packet data (batches or single packets) plus control items, with high/low watermarks.
 *
 * Policy (the lossy live-stream stage of DESIGN.md):
 *  - Data items are accepted while the queue stays within the high watermark (packets and/or bytes). An item that
 *    would cross it starts a congestion episode; from then on every data item is discarded and its packets and
 *    bytes are counted, until the consumer drains the queue to at or below the low watermark, which ends the
 *    episode. A single item larger than the high watermark is accepted only into an empty queue, so memory is
 *    bounded by max(high watermark, one item).
 *  - Control items (messages, statistics) are never discarded and do not count towards the watermarks.
 *  - Invariant: offeredPackets = dequeuedPackets + queuedPackets + discardedPackets (and the same for bytes).
 *
 * Synchronous and single-threaded; the producer calls offer(), the consumer shift(). Not shared between captures.
 */

/** A watermark; an absent dimension is not limited (at least one must be set on the high mark). */
export interface Watermark {
  readonly packets?: number;
  readonly bytes?: number;
}

/** Size of one data item. */
export interface ItemSize {
  readonly packets: number;
  readonly bytes: number;
}

/** Counters since construction. */
export interface QueueCounters {
  readonly offeredPackets: number;
  readonly offeredBytes: number;
  readonly enqueuedPackets: number;
  readonly enqueuedBytes: number;
  readonly dequeuedPackets: number;
  readonly dequeuedBytes: number;
  readonly discardedPackets: number;
  readonly discardedBytes: number;
  /** Data items (batches) discarded. */
  readonly discardedItems: number;
  readonly controlItems: number;
  readonly congestionEpisodes: number;
}

/** Reported when an episode starts: the queue's fill at that moment and the first discarded item. */
export interface CongestionStart {
  readonly queuedPackets: number;
  readonly queuedBytes: number;
}

/** Reported when an episode ends: what it discarded and how long it lasted. */
export interface CongestionEnd {
  readonly discardedPackets: number;
  readonly discardedBytes: number;
  readonly durationMs: number;
}

export interface BoundedPacketQueueOptions<T> {
  readonly high: Watermark;
  /** Must not exceed `high` in any dimension; default: half of `high`. */
  readonly low?: Watermark;
  /** Size of a data item (e.g. `{ packets: batch.count, bytes: batch.data.length }`). */
  readonly sizeOf: (item: T) => ItemSize;
  readonly onCongestionStart?: (info: CongestionStart) => void;
  readonly onCongestionEnd?: (info: CongestionEnd) => void;
  /** Called when an item lands in an empty queue (wake the consumer). */
  readonly onReadable?: () => void;
  /** Clock for episode durations; default Date.now. */
  readonly now?: () => number;
}

interface Entry<T> {
  readonly item: T;
  readonly control: boolean;
  readonly packets: number;
  readonly bytes: number;
}

export class BoundedPacketQueue<T> {
  private readonly entries: Array<Entry<T> | undefined> = [];
  private head = 0;
  private queuedPacketCount = 0;
  private queuedByteCount = 0;
  private congestedSince: number | undefined;
  private episodePackets = 0;
  private episodeBytes = 0;
  private readonly highPackets: number;
  private readonly highBytes: number;
  private readonly lowPackets: number;
  private readonly lowBytes: number;
  private readonly now: () => number;
  private readonly counts = {
    offeredPackets: 0,
    offeredBytes: 0,
    enqueuedPackets: 0,
    enqueuedBytes: 0,
    dequeuedPackets: 0,
    dequeuedBytes: 0,
    discardedPackets: 0,
    discardedBytes: 0,
    discardedItems: 0,
    controlItems: 0,
    congestionEpisodes: 0,
  };

  constructor(private readonly options: BoundedPacketQueueOptions<T>) {
    const { high, low } = options;
    if (high.packets === undefined && high.bytes === undefined) {
      throw new RangeError('a high watermark needs packets and/or bytes');
    }
    this.highPackets = high.packets ?? Infinity;
    this.highBytes = high.bytes ?? Infinity;
    this.lowPackets = low?.packets ?? (high.packets === undefined ? Infinity : Math.floor(high.packets / 2));
    this.lowBytes = low?.bytes ?? (high.bytes === undefined ? Infinity : Math.floor(high.bytes / 2));
    for (const [mark, w] of [['high', high] as const, ['low', low ?? {}] as const]) {
      for (const [name, v] of Object.entries(w)) {
        if (v !== undefined && (!Number.isFinite(v) || v < 0)) {
          throw new RangeError(`${mark} watermark ${name} must be a number >= 0`);
        }
      }
    }
    if (this.lowPackets > this.highPackets || this.lowBytes > this.highBytes) {
      throw new RangeError('the low watermark must not exceed the high watermark');
    }
    this.now = options.now ?? Date.now;
  }

  /** Items waiting (data and control). */
  get length(): number {
    return this.entries.length - this.head;
  }

  get queuedPackets(): number {
    return this.queuedPacketCount;
  }

  get queuedBytes(): number {
    return this.queuedByteCount;
  }

  /** True during a congestion episode (data is being discarded). */
  get congested(): boolean {
    return this.congestedSince !== undefined;
  }

  /** A snapshot of the counters. */
  get counters(): QueueCounters {
    return { ...this.counts };
  }

  /** Offers a data item; returns false if it was discarded (and counted). */
  offer(item: T): boolean {
    const { packets, bytes } = this.options.sizeOf(item);
    this.counts.offeredPackets += packets;
    this.counts.offeredBytes += bytes;
    if (this.congestedSince === undefined) {
      const fits =
        this.queuedPacketCount + packets <= this.highPackets &&
        this.queuedByteCount + bytes <= this.highBytes;
      if (fits || this.length === 0) {
        this.counts.enqueuedPackets += packets;
        this.counts.enqueuedBytes += bytes;
        this.queuedPacketCount += packets;
        this.queuedByteCount += bytes;
        this.append({ item, control: false, packets, bytes });
        return true;
      }
      this.congestedSince = this.now();
      this.episodePackets = 0;
      this.episodeBytes = 0;
      this.counts.congestionEpisodes++;
      this.options.onCongestionStart?.({
        queuedPackets: this.queuedPacketCount,
        queuedBytes: this.queuedByteCount,
      });
    }
    this.counts.discardedItems++;
    this.counts.discardedPackets += packets;
    this.counts.discardedBytes += bytes;
    this.episodePackets += packets;
    this.episodeBytes += bytes;
    return false;
  }

  /** Enqueues a control item; never discarded, not counted against the watermarks. */
  offerControl(item: T): void {
    this.counts.controlItems++;
    this.append({ item, control: true, packets: 0, bytes: 0 });
  }

  /** The oldest item, or undefined when empty. May end a congestion episode. */
  shift(): T | undefined {
    if (this.head >= this.entries.length) return undefined;
    const entry = this.entries[this.head];
    this.entries[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    if (entry === undefined) return undefined;
    if (!entry.control) {
      this.queuedPacketCount -= entry.packets;
      this.queuedByteCount -= entry.bytes;
      this.counts.dequeuedPackets += entry.packets;
      this.counts.dequeuedBytes += entry.bytes;
      this.maybeEndCongestion();
    }
    return entry.item;
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.entries[this.head]?.item;
  }

  private append(entry: Entry<T>): void {
    const wasEmpty = this.length === 0;
    this.entries.push(entry);
    if (wasEmpty) this.options.onReadable?.();
  }

  private maybeEndCongestion(): void {
    const since = this.congestedSince;
    if (since === undefined) return;
    if (this.queuedPacketCount > this.lowPackets || this.queuedByteCount > this.lowBytes) return;
    this.congestedSince = undefined;
    this.options.onCongestionEnd?.({
      discardedPackets: this.episodePackets,
      discardedBytes: this.episodeBytes,
      durationMs: this.now() - since,
    });
  }
}
