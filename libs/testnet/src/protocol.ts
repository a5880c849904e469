/**
 * The IPC contract between the parent (testnet.ts) and each child process
 * (child.ts for js servers, the gonet binary for go servers; see
 * child-handle.ts for how each channel carries them). Nodes are named by
 * their index inside their process ("local index"); the parent maps those
 * to peer ids.
 */
import type { ProviderRecord } from './server.ts'

/** Which kad-dht implementation a server runs: @libp2p/kad-dht or go-libp2p-kad-dht. */
export type Impl = 'js' | 'go'

export interface NodeAddrs { peerId: string; multiaddrs: string[] }

export type Request =
  | { op: 'start'; count: number; protocol: string }
  /** Local node `local` dials each of `targets`; at most `concurrency` dials in flight per process. */
  | { op: 'connect'; plan: Array<{ local: number; targets: NodeAddrs[] }>; concurrency: number }
  /** Every live local node runs one self-lookup; at most `concurrency` at a time. */
  | { op: 'selfLookup'; concurrency: number }
  | { op: 'tables' }
  | { op: 'providers'; multihash: Uint8Array }
  /** With `provider`, only records whose provider is that peer id count. */
  | { op: 'holders'; multihashes: Uint8Array[]; provider?: string }
  /** The records local node `local` holds for multihashes[key], for each pair. */
  | { op: 'records'; multihashes: Uint8Array[]; pairs: Array<{ key: number; local: number }> }
  | { op: 'stopNodes'; locals: number[] }
  /**
   * Each node closes its host and a raw TCP listener takes its port: it accepts
   * and never answers, so a dial hangs until the dialler's timeout, as silent
   * peers on Amino do.
   */
  | { op: 'tarpit'; locals: number[] }
  /** Every server delays each kad response by a uniform [mean − jitter, mean + jitter] ms; 0 turns it off. */
  | { op: 'setLatency'; meanMs: number; jitterMs: number }
  | { op: 'shutdown' }

export interface Responses {
  start: NodeAddrs[]
  connect: { ok: number; failed: number }
  selfLookup: { failed: number }
  /** Per local node, its routing-table peer ids and open connection count; null for a stopped or tarpitted node. */
  tables: Array<{ peers: string[]; connections: number } | null>
  providers: Array<{ local: number; records: ProviderRecord[] }>
  /** Per requested multihash, the live local nodes holding a record for it. */
  holders: number[][]
  /** Aligned with the request's pairs; empty for a stopped node. */
  records: ProviderRecord[][]
  stopNodes: null
  tarpit: null
  setLatency: null
  shutdown: null
}

export type Op = Request['op']
export type RequestOf<O extends Op> = Extract<Request, { op: O }>

export interface Envelope { id: number; req: Request }
export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
