/**
 * Redis bitmaps as sets of small integers, in Redis' bit order (SETBIT offset 0 is the high
 * bit of the first byte), so a bitmap written here and one written by SETBIT in Lua agree.
 */

/** The offsets of the set bits of a bitmap, ascending; none for a missing key (null). */
export function bitmapOffsets(bitmap: Buffer | null): number[] {
  const offsets: number[] = []
  if (bitmap === null) return offsets
  for (let byte = 0; byte < bitmap.length; byte++) {
    if (bitmap[byte] === 0) continue
    for (let bit = 0; bit < 8; bit++) if ((bitmap[byte] & (0x80 >> bit)) !== 0) offsets.push(byte * 8 + bit)
  }
  return offsets
}

/** A bitmap of size bits with the given offsets set. */
export function bitmapOf(offsets: Iterable<number>, size: number): Buffer {
  const bitmap = Buffer.alloc(Math.ceil(size / 8))
  for (const offset of offsets) bitmap[offset >> 3] |= 0x80 >> (offset & 7)
  return bitmap
}
