/** Pure parts: XOR selection and the startup wiring plan, against brute force. */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { kClosest } from '../src/closest.ts'
import { planWiring } from '../src/wiring.ts'

const sha = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest())
const big = (b: Uint8Array): bigint => BigInt('0x' + Buffer.from(b).toString('hex'))

function bruteForce(target: Uint8Array, points: Array<{ kadKey: Uint8Array; name: string }>, k: number): string[] {
  const t = big(target)
  return points
    .map((p) => ({ name: p.name, d: big(p.kadKey) ^ t }))
    .sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0))
    .slice(0, k)
    .map((p) => p.name)
}

describe('kClosest', () => {
  const points = Array.from({ length: 300 }, (_, i) => ({ kadKey: sha(`node-${i}`), name: `n${i}` }))

  it('matches a brute-force XOR sort for many targets and k', () => {
    for (let t = 0; t < 50; t++) {
      const target = sha(`key-${t}`)
      for (const k of [1, 5, 20, 299, 300, 400]) {
        expect(kClosest(target, points, k).map((p) => p.name)).toEqual(bruteForce(target, points, k))
      }
    }
  })

  it('returns nothing for k <= 0', () => {
    expect(kClosest(sha('x'), points, 0)).toEqual([])
  })
})

describe('planWiring', () => {
  const points = Array.from({ length: 120 }, (_, i) => ({ kadKey: sha(`w-${i}`) }))
  let seed = 1
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647)
  const plan = planWiring(points, { neighbours: 8, random: 3, rand })
  const edges = new Set(plan.flatMap((targets, a) => targets.map((b) => (a < b ? `${a}:${b}` : `${b}:${a}`))))

  it('connects every node to its true XOR neighbours, in one direction or the other', () => {
    points.forEach((p, i) => {
      const near = kClosest(p.kadKey, points.map((q, j) => ({ kadKey: q.kadKey, j })).filter((q) => q.j !== i), 8)
      for (const { j } of near) expect(edges.has(i < j ? `${i}:${j}` : `${j}:${i}`)).toBe(true)
    })
  })

  it('never plans a self-dial or the same edge twice', () => {
    const all = plan.flatMap((targets, a) => targets.map((b) => [a, b] as const))
    expect(all.every(([a, b]) => a !== b)).toBe(true)
    expect(edges.size).toBe(all.length)
  })
})
