/**
 * What a 64-bit little-endian ELF file needs to run: its program
 * interpreter (PT_INTERP) and the shared libraries it names (DT_NEEDED).
 * Pure over the file's bytes; used to put exactly the libraries a binary
 * needs into the image tree (build/rootfs.ts).
 */
export interface ElfNeeds {
  interpreter: string | undefined;
  needed: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

export function elfNeeds(b: Uint8Array): ElfNeeds {
  if (!(b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) || b[4] !== 2 || b[5] !== 1) {
    throw new Error("not a 64-bit little-endian ELF file");
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let interpreter: string | undefined;
  let dynamic: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = v.getUint32(ph, true);
    const offset = v.getBigUint64(ph + 8, true);
    const vaddr = v.getBigUint64(ph + 16, true);
    const filesz = v.getBigUint64(ph + 32, true);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (type === PT_INTERP) interpreter = new TextDecoder().decode(b.subarray(Number(offset), Number(offset + filesz))).replace(/\0+$/, "");
    else if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (!dynamic) return { interpreter, needed: [] };
  const entries: [bigint, bigint][] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = v.getBigInt64(at, true);
    if (tag === 0n) break;
    entries.push([BigInt.asUintN(64, tag), v.getBigUint64(at + 8, true)]);
  }
  const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
  if (strtabAddr === undefined) return { interpreter, needed: [] };
  const seg = loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
  if (!seg) throw new Error("DT_STRTAB is outside every loaded segment");
  const strtab = Number(strtabAddr - seg.vaddr + seg.offset);
  const cstr = (at: number) => {
    let end = at;
    while (b[end] !== 0) end++;
    return new TextDecoder().decode(b.subarray(at, end));
  };
  const needed = entries.filter(([t]) => t === DT_NEEDED).map(([, off]) => cstr(strtab + Number(off)));
  return { interpreter, needed };
}
