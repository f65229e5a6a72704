/**
 * Just enough of Mach-O (64-bit, thin) and Apple's code signature format to do, on any OS, what `codesign
 * --remove-signature` and `codesign --sign -` do to a Node.js binary for a single executable application:
 * drop the vendor signature before postject injects the blob, then sign the result ad hoc. macOS on Apple silicon
 * runs no arm64 binary without a valid signature; an ad-hoc one (a CodeDirectory holding a SHA-256 per 4 KiB page,
 * no certificate) is enough, and is what Go's and Zig's linkers write into every macOS binary they link.
 *
 * The signature layout follows Go's linker (`cmd/internal/codesign`, tested byte for byte against it): one embedded
 * SuperBlob holding one CodeDirectory (version 0x20400, SHA-256, 4 KiB pages, exec segment = __TEXT) at the end of
 * __LINKEDIT, 16-byte aligned, covering every byte of the file before it.
 */
import { createHash } from 'node:crypto';

const MH_MAGIC_64 = 0xfeedfacf;
const FAT_MAGIC = 0xcafebabe;
const MH_EXECUTE = 2;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const HEADER_SIZE = 32;
const SEGMENT_COMMAND_SIZE = 72;
const SECTION_SIZE = 80;
const LINKEDIT_DATA_SIZE = 16;

const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSSLOT_CODEDIRECTORY = 0;
const CS_HASHTYPE_SHA256 = 2;
const CS_EXECSEG_MAIN_BINARY = 0x1;
const CODEDIRECTORY_VERSION = 0x20400;
const CODEDIRECTORY_SIZE = 88;
const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const HASH_SIZE = 32;

/** `CS_ADHOC`: signed without an identity (`codesign --sign -` writes this flag alone). */
export const CS_ADHOC = 0x2;
/** `CS_LINKER_SIGNED`: what linkers add to CS_ADHOC (ld64, Go, Zig, `bun build --compile`). */
export const CS_LINKER_SIGNED = 0x20000;

export const CPU_TYPE_X86_64 = 0x01000007;
export const CPU_TYPE_ARM64 = 0x0100000c;

export class MachOError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface MachOSection {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface MachOSegment {
  readonly name: string;
  /** Offset of its load command in the file. */
  readonly commandOffset: number;
  readonly vmaddr: bigint;
  readonly vmsize: bigint;
  readonly fileoff: number;
  readonly filesize: number;
  readonly sections: readonly MachOSection[];
}

export interface MachOFile {
  readonly cputype: number;
  readonly filetype: number;
  readonly ncmds: number;
  readonly sizeofcmds: number;
  readonly segments: readonly MachOSegment[];
  /** LC_CODE_SIGNATURE, if present. */
  readonly codeSignature?: {
    readonly commandOffset: number;
    readonly dataoff: number;
    readonly datasize: number;
  };
  /** Free bytes between the end of the load commands and the first section's data. */
  readonly headerPadding: number;
}

/** Reads the header and load commands of a thin 64-bit little-endian Mach-O file. */
export function parseMachO(buf: Buffer): MachOFile {
  if (buf.length < HEADER_SIZE) throw new MachOError('not a Mach-O file: too short');
  const magic = buf.readUInt32LE(0);
  if (buf.readUInt32BE(0) === FAT_MAGIC)
    throw new MachOError('universal (fat) Mach-O files are not supported');
  if (magic !== MH_MAGIC_64) throw new MachOError(`not a 64-bit Mach-O file (magic 0x${magic.toString(16)})`);
  const cputype = buf.readInt32LE(4);
  const filetype = buf.readUInt32LE(12);
  const ncmds = buf.readUInt32LE(16);
  const sizeofcmds = buf.readUInt32LE(20);
  const segments: MachOSegment[] = [];
  let codeSignature: MachOFile['codeSignature'];
  let off = HEADER_SIZE;
  let firstData = buf.length;
  for (let i = 0; i < ncmds; i++) {
    const cmd = buf.readUInt32LE(off);
    const cmdsize = buf.readUInt32LE(off + 4);
    if (cmdsize < 8 || off + cmdsize > HEADER_SIZE + sizeofcmds) {
      throw new MachOError(`load command ${i} at ${off} is malformed`);
    }
    if (cmd === LC_SEGMENT_64) {
      const nsects = buf.readUInt32LE(off + 64);
      const sections: MachOSection[] = [];
      for (let s = 0; s < nsects; s++) {
        const at = off + SEGMENT_COMMAND_SIZE + s * SECTION_SIZE;
        const section = {
          name: cString(buf, at, 16),
          size: Number(buf.readBigUInt64LE(at + 40)),
          offset: buf.readUInt32LE(at + 48),
        };
        sections.push(section);
        // Zero-fill sections (offset 0) have no bytes in the file.
        if (section.offset > 0) firstData = Math.min(firstData, section.offset);
      }
      segments.push({
        name: cString(buf, off + 8, 16),
        commandOffset: off,
        vmaddr: buf.readBigUInt64LE(off + 24),
        vmsize: buf.readBigUInt64LE(off + 32),
        fileoff: Number(buf.readBigUInt64LE(off + 40)),
        filesize: Number(buf.readBigUInt64LE(off + 48)),
        sections,
      });
    } else if (cmd === LC_CODE_SIGNATURE) {
      codeSignature = {
        commandOffset: off,
        dataoff: buf.readUInt32LE(off + 8),
        datasize: buf.readUInt32LE(off + 12),
      };
    }
    off += cmdsize;
  }
  return {
    cputype,
    filetype,
    ncmds,
    sizeofcmds,
    segments,
    ...(codeSignature ? { codeSignature } : {}),
    headerPadding: firstData - (HEADER_SIZE + sizeofcmds),
  };
}

function cString(buf: Buffer, at: number, max: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 || end > at + max ? at + max : end);
}

function segment(file: MachOFile, name: string): MachOSegment {
  const seg = file.segments.find((s) => s.name === name);
  if (!seg) throw new MachOError(`no ${name} segment`);
  return seg;
}

/** __LINKEDIT must be the last thing in the file: the signature is appended to it. */
function lastLinkedit(file: MachOFile, length: number): MachOSegment {
  const linkedit = segment(file, '__LINKEDIT');
  const end = linkedit.fileoff + linkedit.filesize;
  if (end !== length) {
    throw new MachOError(`__LINKEDIT ends at ${end}, not at the end of the file (${length}); cannot sign`);
  }
  for (const s of file.segments) {
    if (s !== linkedit && s.filesize > 0 && s.fileoff + s.filesize > linkedit.fileoff) {
      throw new MachOError(`segment ${s.name} lies after __LINKEDIT; cannot sign`);
    }
  }
  return linkedit;
}

/** Page size of the target's virtual memory: 16 KiB on arm64, 4 KiB on x86-64 (for __LINKEDIT's vmsize). */
function vmPage(cputype: number): bigint {
  return cputype === CPU_TYPE_ARM64 ? 0x4000n : 0x1000n;
}

/** Sets __LINKEDIT's file size; its memory size grows (to whole pages) only when it would no longer cover it. */
function setLinkeditSize(buf: Buffer, file: MachOFile, linkedit: MachOSegment, filesize: number): void {
  const page = vmPage(file.cputype);
  if (linkedit.vmsize < BigInt(filesize)) {
    buf.writeBigUInt64LE(((BigInt(filesize) + page - 1n) / page) * page, linkedit.commandOffset + 32);
  }
  buf.writeBigUInt64LE(BigInt(filesize), linkedit.commandOffset + 48);
}

/**
 * `codesign --remove-signature`: drops LC_CODE_SIGNATURE (later load commands move up) and the signature bytes at
 * the end of __LINKEDIT. Returns a new buffer; one without a signature is returned as it is.
 */
export function removeSignature(input: Buffer): Buffer {
  const file = parseMachO(input);
  const sig = file.codeSignature;
  if (!sig) return input;
  const linkedit = lastLinkedit(file, input.length);
  if (sig.dataoff + sig.datasize !== input.length) {
    throw new MachOError('the code signature is not at the end of the file');
  }
  const out = Buffer.from(input.subarray(0, sig.dataoff));
  const cmdsEnd = HEADER_SIZE + file.sizeofcmds;
  out.copy(out, sig.commandOffset, sig.commandOffset + LINKEDIT_DATA_SIZE, cmdsEnd);
  out.fill(0, cmdsEnd - LINKEDIT_DATA_SIZE, cmdsEnd);
  out.writeUInt32LE(file.ncmds - 1, 16);
  out.writeUInt32LE(file.sizeofcmds - LINKEDIT_DATA_SIZE, 20);
  const moved = linkedit.commandOffset > sig.commandOffset ? LINKEDIT_DATA_SIZE : 0;
  setLinkeditSize(
    out,
    parseMachO(out),
    { ...linkedit, commandOffset: linkedit.commandOffset - moved },
    sig.dataoff - linkedit.fileoff,
  );
  return out;
}

function signatureSize(codeLimit: number, identifier: string): number {
  const pages = Math.ceil(codeLimit / PAGE_SIZE);
  return 12 + 8 + CODEDIRECTORY_SIZE + Buffer.byteLength(identifier) + 1 + pages * HASH_SIZE;
}

export interface AdhocSignOptions {
  /** The signature's identifier (codesign uses the file name). */
  readonly identifier: string;
  /**
   * CodeDirectory flags; default CS_ADHOC | CS_LINKER_SIGNED: with a CodeDirectory alone (no requirements, no
   * CMS) this is exactly the signature ld64, Go and Zig write into every Apple silicon binary they link, the
   * best-proven form (`codesign --sign -` writes CS_ADHOC with an empty requirements blob and CMS wrapper).
   */
  readonly flags?: number;
}

/**
 * `codesign --sign -` for a thin 64-bit Mach-O executable: replaces any signature by an ad-hoc one covering every
 * byte before it. Adds LC_CODE_SIGNATURE when missing (needs 16 free bytes after the load commands). Returns a new
 * buffer.
 */
export function adhocSign(input: Buffer, options: AdhocSignOptions): Buffer {
  let file = parseMachO(input);
  let buf = input;
  let sig = file.codeSignature;
  let linkedit = lastLinkedit(file, buf.length);
  // Where the signature goes: in place of an old one, else appended to __LINKEDIT 16-byte aligned.
  const codeLimit = sig ? sig.dataoff : (buf.length + 15) & ~15;
  if (!sig) {
    if (file.headerPadding < LINKEDIT_DATA_SIZE) {
      throw new MachOError(
        `no room for LC_CODE_SIGNATURE after the load commands (${file.headerPadding} bytes free)`,
      );
    }
    buf = Buffer.concat([buf, Buffer.alloc(codeLimit - buf.length)]);
    const at = HEADER_SIZE + file.sizeofcmds;
    buf.writeUInt32LE(LC_CODE_SIGNATURE, at);
    buf.writeUInt32LE(LINKEDIT_DATA_SIZE, at + 4);
    buf.writeUInt32LE(codeLimit, at + 8);
    buf.writeUInt32LE(file.ncmds + 1, 16);
    buf.writeUInt32LE(file.sizeofcmds + LINKEDIT_DATA_SIZE, 20);
    file = parseMachO(buf);
    linkedit = segment(file, '__LINKEDIT');
    sig = file.codeSignature;
    if (!sig) throw new MachOError('LC_CODE_SIGNATURE was not added');
  }
  const size = signatureSize(codeLimit, options.identifier);
  const out = Buffer.alloc(codeLimit + size);
  buf.copy(out, 0, 0, codeLimit);
  out.writeUInt32LE(size, sig.commandOffset + 12);
  setLinkeditSize(out, file, linkedit, codeLimit + size - linkedit.fileoff);
  writeSignature(out, codeLimit, options.identifier, options.flags ?? CS_ADHOC | CS_LINKER_SIGNED, file);
  return out;
}

function writeSignature(
  out: Buffer,
  codeLimit: number,
  identifier: string,
  flags: number,
  file: MachOFile,
): void {
  const text = segment(file, '__TEXT');
  const pages = Math.ceil(codeLimit / PAGE_SIZE);
  const identOffset = CODEDIRECTORY_SIZE;
  const hashOffset = identOffset + Buffer.byteLength(identifier) + 1;
  const size = signatureSize(codeLimit, identifier);
  let p = codeLimit;
  const u32 = (v: number): void => {
    out.writeUInt32BE(v >>> 0, p);
    p += 4;
  };
  const u64 = (v: number): void => {
    out.writeBigUInt64BE(BigInt(v), p);
    p += 8;
  };
  // SuperBlob with one index entry.
  u32(CSMAGIC_EMBEDDED_SIGNATURE);
  u32(size);
  u32(1);
  u32(CSSLOT_CODEDIRECTORY);
  u32(20);
  // CodeDirectory.
  u32(CSMAGIC_CODEDIRECTORY);
  u32(size - 20);
  u32(CODEDIRECTORY_VERSION);
  u32(flags);
  u32(hashOffset);
  u32(identOffset);
  u32(0); // nSpecialSlots
  u32(pages);
  u32(codeLimit);
  out.writeUInt8(HASH_SIZE, p);
  out.writeUInt8(CS_HASHTYPE_SHA256, p + 1);
  out.writeUInt8(0, p + 2);
  out.writeUInt8(PAGE_BITS, p + 3);
  p += 4;
  u32(0); // spare2
  u32(0); // scatterOffset
  u32(0); // teamOffset
  u32(0); // spare3
  u64(0); // codeLimit64
  u64(text.fileoff);
  u64(text.filesize);
  u64(file.filetype === MH_EXECUTE ? CS_EXECSEG_MAIN_BINARY : 0);
  p += out.write(`${identifier}\0`, p, 'utf8');
  for (let page = 0; page < pages; page++) {
    const start = page * PAGE_SIZE;
    p += createHash('sha256')
      .update(out.subarray(start, Math.min(start + PAGE_SIZE, codeLimit)))
      .digest()
      .copy(out, p);
  }
}

export interface CodeSignatureInfo {
  /** SuperBlob index: slot type and blob magic, in order. */
  readonly blobs: readonly { readonly type: number; readonly magic: number; readonly length: number }[];
  readonly identifier: string;
  readonly flags: number;
  readonly version: number;
  readonly hashType: number;
  readonly pageSize: number;
  readonly codeLimit: number;
  readonly execSegBase: bigint;
  readonly execSegLimit: bigint;
  readonly execSegFlags: bigint;
  /** Code slots whose hash differs from the file's page. */
  readonly badPages: number;
  readonly pages: number;
  /** The CMS blob (slot 0x10000) when the signature has an identity, as DER. */
  readonly cms?: Buffer;
  /** The CodeDirectory blob as it is signed by the CMS. */
  readonly codeDirectory: Buffer;
}

/** Reads the embedded signature and checks every code page's hash (SHA-256 or SHA-1 CodeDirectories). */
export function readCodeSignature(buf: Buffer): CodeSignatureInfo {
  const file = parseMachO(buf);
  const sig = file.codeSignature;
  if (!sig) throw new MachOError('no LC_CODE_SIGNATURE');
  const sb = buf.subarray(sig.dataoff, sig.dataoff + sig.datasize);
  if (sb.length < 12 || sb.readUInt32BE(0) !== CSMAGIC_EMBEDDED_SIGNATURE) {
    throw new MachOError('the code signature is not an embedded SuperBlob');
  }
  const blobs = [];
  let codeDirectory: Buffer | undefined;
  let cms: Buffer | undefined;
  for (let i = 0; i < sb.readUInt32BE(8); i++) {
    const type = sb.readUInt32BE(12 + 8 * i);
    const offset = sb.readUInt32BE(16 + 8 * i);
    const blob = { type, magic: sb.readUInt32BE(offset), length: sb.readUInt32BE(offset + 4) };
    blobs.push(blob);
    if (type === CSSLOT_CODEDIRECTORY) codeDirectory = sb.subarray(offset, offset + blob.length);
    if (type === 0x10000 && blob.length > 8) cms = sb.subarray(offset + 8, offset + blob.length);
  }
  if (!codeDirectory || codeDirectory.readUInt32BE(0) !== CSMAGIC_CODEDIRECTORY) {
    throw new MachOError('the code signature has no CodeDirectory');
  }
  const cd = codeDirectory;
  const hashOffset = cd.readUInt32BE(16);
  const nCodeSlots = cd.readUInt32BE(28);
  const codeLimit = cd.readUInt32BE(32);
  const hashSize = cd.readUInt8(36);
  const hashType = cd.readUInt8(37);
  const pageSize = 2 ** cd.readUInt8(39);
  const algorithm = hashType === CS_HASHTYPE_SHA256 ? 'sha256' : hashType === 1 ? 'sha1' : undefined;
  if (!algorithm) throw new MachOError(`unsupported hash type ${hashType}`);
  let badPages = 0;
  for (let i = 0; i < nCodeSlots; i++) {
    const start = i * pageSize;
    const digest = createHash(algorithm)
      .update(buf.subarray(start, Math.min(start + pageSize, codeLimit)))
      .digest()
      .subarray(0, hashSize);
    if (!digest.equals(cd.subarray(hashOffset + i * hashSize, hashOffset + (i + 1) * hashSize))) badPages++;
  }
  const version = cd.readUInt32BE(8);
  const execSeg = version >= 0x20400;
  return {
    blobs,
    identifier: cString(cd, cd.readUInt32BE(20), cd.length),
    flags: cd.readUInt32BE(12),
    version,
    hashType,
    pageSize,
    codeLimit,
    execSegBase: execSeg ? cd.readBigUInt64BE(64) : 0n,
    execSegLimit: execSeg ? cd.readBigUInt64BE(72) : 0n,
    execSegFlags: execSeg ? cd.readBigUInt64BE(80) : 0n,
    badPages: badPages + (nCodeSlots === Math.ceil(codeLimit / pageSize) ? 0 : 1),
    pages: nCodeSlots,
    ...(cms ? { cms } : {}),
    codeDirectory: cd,
  };
}
