/**
 * The IPC contract between the parent (testnet.ts) and each child process
 * (child.ts). Messages go through fork's 'advanced' serialization, so
 * Uint8Arrays cross as they are. Nodes are named by their index inside
 * their process ("local index"); the parent maps those to peer ids.
 */
import type { ProviderRecord } from './server.ts'

export interface NodeAddrs { peerId: string; multiaddrs: string[] }

export type Request =
  | { op: 'start'; count: number; protocol: string }
  /** Local node `local` dials each of `targets`; at most `concurrency` dials in flight per process. */
  | { op: 'connect'; plan: Array<{ local: number; targets: NodeAddrs[] }>; concurrency: number }
  /** Every live local node runs one self-lookup; at most `concurrency` at a time. */
  | { op: 'selfLookup'; concurrency: number }
  | { op: 'tables' }
  | { op: 'providers'; multihash: Uint8Array }
  | { op: 'holders'; multihashes: Uint8Array[] }
  /** The records local node `local` holds for multihashes[key], for each pair. */
  | { op: 'records'; multihashes: Uint8Array[]; pairs: Array<{ key: number; local: number }> }
  | { op: 'stopNodes'; locals: number[] }
  | { op: 'shutdown' }

export interface Responses {
  start: NodeAddrs[]
  connect: { ok: number; failed: number }
  selfLookup: { failed: number }
  /** Per local node, its routing-table peer ids and open connection count; null for a stopped node. */
  tables: Array<{ peers: string[]; connections: number } | null>
  providers: Array<{ local: number; records: ProviderRecord[] }>
  /** Per requested multihash, the live local nodes holding a record for it. */
  holders: number[][]
  /** Aligned with the request's pairs; empty for a stopped node. */
  records: ProviderRecord[][]
  stopNodes: null
  shutdown: null
}

export type Op = Request['op']
export type RequestOf<O extends Op> = Extract<Request, { op: O }>

export interface Envelope { id: number; req: Request }
export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
