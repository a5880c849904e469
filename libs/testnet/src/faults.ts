/**
 * The faults Amino has, applied to js servers in a child process without
 * touching kad-dht's code: tarpits (a port that accepts and never answers)
 * and answer latency.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { ServerNode } from './server.ts'

/** A listener on a dead server's port: every connection is accepted, held, and never read or written. */
export class Tarpit {
  private readonly held = new Set<Socket>()
  private readonly server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    this.held.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => this.held.delete(socket))
  })

  static async listen(host: string, port: number): Promise<Tarpit> {
    const tarpit = new Tarpit()
    await new Promise<void>((resolve, reject) => {
      tarpit.server.once('error', reject)
      tarpit.server.listen(port, host, () => resolve())
    })
    return tarpit
  }

  close(): Promise<void> {
    for (const s of this.held) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/** Where a stopped node listened, so a tarpit can take the same port. */
export function tcpListenPort(node: ServerNode): { host: string; port: number } {
  for (const ma of node.getMultiaddrs()) {
    const m = /^\/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(ma.toString())
    if (m != null) return { host: m[1], port: Number(m[2]) }
  }
  throw new Error(`node ${node.peerId.toString()} has no TCP listen address`)
}

export interface Latency { meanMs: number; jitterMs: number }

/** The one piece of kad-dht's server that a delay wraps: it turns a request into its response (null for none). */
interface RpcView {
  handleMessage(peerId: unknown, msg: unknown): Promise<unknown>
}

/**
 * Delays every kad response of this node by the shared latency setting. The
 * stream handler kad-dht registered calls `this.handleMessage` on its RPC
 * object for each request, so wrapping that one method delays answers (not
 * ADD_PROVIDER, which has none) while the server code runs as shipped.
 * Waiting is a timer: no CPU.
 */
export function delayAnswers(node: ServerNode, latency: Readonly<Latency>): void {
  const rpc = (node.services.dht as unknown as { rpc?: RpcView }).rpc
  if (rpc == null || typeof rpc.handleMessage !== 'function') throw new Error('kad-dht no longer exposes rpc.handleMessage; update delayAnswers')
  const original = rpc.handleMessage.bind(rpc)
  rpc.handleMessage = async (peerId, msg) => {
    const response = await original(peerId, msg)
    const ms = response == null ? 0 : drawDelay(latency)
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
    return response
  }
}

function drawDelay({ meanMs, jitterMs }: Readonly<Latency>): number {
  if (meanMs <= 0) return 0
  return Math.max(0, meanMs + (Math.random() * 2 - 1) * jitterMs)
}
