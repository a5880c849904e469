import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { AMINO_BOOTSTRAP, AMINO_PROTOCOL } from '../src/index.ts'

// No dial here: tests only ever talk to 127.0.0.1.
describe('Amino defaults', () => {
  it('are dialable bootstrap multiaddrs, each naming a distinct valid peer id', () => {
    expect(AMINO_PROTOCOL).toBe('/ipfs/kad/1.0.0')
    const ids = AMINO_BOOTSTRAP.map((text) => {
      const ma = multiaddr(text)
      expect(ma.toString()).toBe(text)
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value
      expect(id, text).toBeDefined()
      return peerIdFromString(id!).toString()
    })
    expect(new Set(ids).size).toBe(AMINO_BOOTSTRAP.length)
    expect(AMINO_BOOTSTRAP.length).toBeGreaterThanOrEqual(4)
  })
})
