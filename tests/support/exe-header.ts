/**
 * What an executable file says about itself in its header: format (ELF,
 * Mach-O, PE), CPU, and for ELF the OS ABI and program interpreter. Pure,
 * over the first bytes of the file (as `file(1)` reads them).
 */
export interface ExeInfo {
  format: "elf" | "macho" | "pe" | "unknown";
  arch: "x64" | "arm64" | "other";
  /** ELF EI_OSABI: 0 System V (Linux), 9 FreeBSD. */
  osabi?: number;
  /** ELF PT_INTERP. */
  interpreter?: string;
}

const ELF_MACHINE: Record<number, ExeInfo["arch"]> = { 62: "x64", 183: "arm64" };
const MACHO_CPU: Record<number, ExeInfo["arch"]> = { 0x01000007: "x64", 0x0100000c: "arm64" };
const PE_MACHINE: Record<number, ExeInfo["arch"]> = { 0x8664: "x64", 0xaa64: "arm64" };

export function exeInfo(b: Uint8Array): ExeInfo {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46 && b[4] === 2 && b[5] === 1) {
    const phoff = Number(v.getBigUint64(0x20, true));
    const phentsize = v.getUint16(0x36, true);
    const phnum = v.getUint16(0x38, true);
    let interpreter: string | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (v.getUint32(ph, true) !== 3) continue; // PT_INTERP
      const off = Number(v.getBigUint64(ph + 8, true));
      const size = Number(v.getBigUint64(ph + 32, true));
      interpreter = new TextDecoder().decode(b.subarray(off, off + size)).replace(/\0+$/, "");
    }
    return { format: "elf", arch: ELF_MACHINE[v.getUint16(0x12, true)] ?? "other", osabi: b[7], interpreter };
  }
  if (v.getUint32(0, true) === 0xfeedfacf) return { format: "macho", arch: MACHO_CPU[v.getUint32(4, true)] ?? "other" };
  if (b[0] === 0x4d && b[1] === 0x5a) {
    const pe = v.getUint32(0x3c, true);
    if (v.getUint32(pe, true) === 0x00004550) return { format: "pe", arch: PE_MACHINE[v.getUint16(pe + 4, true)] ?? "other" };
  }
  return { format: "unknown", arch: "other" };
}
