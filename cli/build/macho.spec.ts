import {
  adhocSign,
  CPU_TYPE_ARM64,
  CS_ADHOC,
  CS_LINKER_SIGNED,
  MachOError,
  parseMachO,
  readCodeSignature,
  removeSignature,
} from './macho';

/**
 * A small thin arm64 executable: header, __TEXT (one __text section at 0x1000) and __LINKEDIT (0x2000..+linkedit),
 * `padding` free bytes after the load commands. Only the structure matters to the signer.
 */
function machO(options: { linkedit?: number; padding?: number; trailing?: number } = {}): Buffer {
  const linkedit = options.linkedit ?? 0x150;
  const cmds = 72 + 80 + 72;
  const textOffset = 32 + cmds + (options.padding ?? 0x1000 - 32 - cmds);
  const size = 0x2000 + linkedit;
  const b = Buffer.alloc(size + (options.trailing ?? 0));
  for (let i = textOffset; i < 0x2000; i++) b[i] = (i * 31) & 0xff;
  for (let i = 0x2000; i < size; i++) b[i] = (i * 7) & 0xff;
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeInt32LE(CPU_TYPE_ARM64, 4);
  b.writeUInt32LE(2, 12); // MH_EXECUTE
  b.writeUInt32LE(2, 16);
  b.writeUInt32LE(cmds, 20);
  let p = 32;
  const segment = (name: string, fileoff: number, filesize: number, vmsize: number, nsects: number): void => {
    b.writeUInt32LE(0x19, p);
    b.writeUInt32LE(72 + 80 * nsects, p + 4);
    b.write(name, p + 8, 'latin1');
    b.writeBigUInt64LE(0x100000000n + BigInt(fileoff), p + 24);
    b.writeBigUInt64LE(BigInt(vmsize), p + 32);
    b.writeBigUInt64LE(BigInt(fileoff), p + 40);
    b.writeBigUInt64LE(BigInt(filesize), p + 48);
    b.writeUInt32LE(nsects, p + 64);
    p += 72;
  };
  segment('__TEXT', 0, 0x2000, 0x4000, 1);
  b.write('__text', p, 'latin1');
  b.write('__TEXT', p + 16, 'latin1');
  b.writeBigUInt64LE(BigInt(0x2000 - textOffset), p + 40);
  b.writeUInt32LE(textOffset, p + 48);
  p += 80;
  segment('__LINKEDIT', 0x2000, linkedit, 0x10000, 0);
  return b;
}

describe('Mach-O ad-hoc signing', () => {
  it('signs an unsigned executable: LC_CODE_SIGNATURE added, signature 16-byte aligned at the end of __LINKEDIT, every page hashed', () => {
    const input = machO({ linkedit: 0x155 });
    const signed = adhocSign(input, { identifier: 'tool' });
    const file = parseMachO(signed);
    expect(file.ncmds).toBe(3);
    const sig = file.codeSignature!;
    expect(sig.dataoff).toBe(0x2160);
    expect(sig.dataoff + sig.datasize).toBe(signed.length);
    const linkedit = file.segments.find((s) => s.name === '__LINKEDIT')!;
    expect(linkedit.fileoff + linkedit.filesize).toBe(signed.length);
    expect(linkedit.vmsize).toBe(0x10000n);
    expect(signed.subarray(0x1000, 0x2155).equals(input.subarray(0x1000))).toBe(true);
    const info = readCodeSignature(signed);
    expect(info).toMatchObject({
      identifier: 'tool',
      flags: CS_ADHOC | CS_LINKER_SIGNED,
      hashType: 2,
      pageSize: 4096,
      codeLimit: 0x2160,
      pages: 3,
      badPages: 0,
      execSegBase: 0n,
      execSegLimit: 0x2000n,
      execSegFlags: 1n,
    });
    expect(info.cms).toBeUndefined();
  });

  it('signing again replaces the signature in place (same bytes); removal gives the input back', () => {
    const input = machO();
    const signed = adhocSign(input, { identifier: 'tool' });
    expect(adhocSign(signed, { identifier: 'tool' }).equals(signed)).toBe(true);
    expect(removeSignature(signed).equals(input)).toBe(true);
    expect(removeSignature(input)).toBe(input);
  });

  it('a changed byte anywhere before the signature is a bad page', () => {
    const signed = adhocSign(machO(), { identifier: 'tool' });
    for (const at of [0x1c, 0x1800, 0x2100]) {
      const changed = Buffer.from(signed);
      changed.writeUInt8(changed.readUInt8(at) ^ 1, at);
      expect(readCodeSignature(changed).badPages).toBe(1);
    }
  });

  it('__LINKEDIT grows its memory size in whole 16 KiB pages when the signature no longer fits', () => {
    const input = machO({ linkedit: 0x150 });
    input.writeBigUInt64LE(0x150n, 32 + 72 + 80 + 32); // vmsize = filesize
    const linkedit = parseMachO(adhocSign(input, { identifier: 'tool' })).segments.find(
      (s) => s.name === '__LINKEDIT',
    )!;
    expect(linkedit.vmsize).toBe(0x4000n);
    expect(BigInt(linkedit.filesize)).toBeLessThanOrEqual(linkedit.vmsize);
  });

  it('refuses what it cannot sign, saying why', () => {
    expect(() => adhocSign(machO({ padding: 8 }), { identifier: 't' })).toThrow(
      new MachOError('no room for LC_CODE_SIGNATURE after the load commands (8 bytes free)'),
    );
    expect(() => adhocSign(machO({ trailing: 4 }), { identifier: 't' })).toThrow(
      /not at the end of the file/,
    );
    const fat = Buffer.alloc(64);
    fat.writeUInt32BE(0xcafebabe, 0);
    expect(() => parseMachO(fat)).toThrow(/universal \(fat\) Mach-O files are not supported/);
    expect(() => parseMachO(Buffer.from('\x7fELF' + '\0'.repeat(60), 'latin1'))).toThrow(
      /not a 64-bit Mach-O/,
    );
    expect(() => readCodeSignature(machO())).toThrow(/no LC_CODE_SIGNATURE/);
  });
});
