/**
 * Child-process entry: holds a slice of the testnet's servers and answers
 * the parent's requests (protocol.ts). One Node process runs out of file
 * descriptors at ~140 TCP servers, hence the split across processes.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { delayAnswers, Tarpit, tcpListenPort, type Latency } from './faults.ts'
import type { Envelope, NodeAddrs, Reply, Request, Responses } from './protocol.ts'
import { createServer, heldKeys, providerRecords, routingTablePeers, selfLookup, storeKey, type ServerNode } from './server.ts'

const nodes: ServerNode[] = []
/** Stopped or tarpitted: either way no longer a server. */
const stopped = new Set<number>()
const tarpits: Tarpit[] = []
/** Shared by every node's answer delay; setLatency changes it in place. */
const latency: Latency = { meanMs: 0, jitterMs: 0 }

function send(reply: Reply): void {
  process.send?.(reply)
}

// The parent is our only reason to exist: when its IPC channel closes (it exited,
// crashed or was killed), leave at once rather than hold ports and descriptors.
process.on('disconnect', () => process.exit(0))

process.on('message', (msg: Envelope) => {
  handle(msg.req).then(
    (result) => send({ id: msg.id, ok: true, result }),
    (err: unknown) => send({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) })
  )
})

async function handle(req: Request): Promise<Responses[Request['op']]> {
  switch (req.op) {
    case 'start': return start(req.count, req.protocol)
    case 'connect': return connect(req.plan, req.concurrency)
    case 'selfLookup': return lookups(req.concurrency)
    case 'tables': return nodes.map((n, i) => stopped.has(i) ? null : { peers: routingTablePeers(n), connections: n.getConnections().length })
    case 'providers': return providers(req.multihash)
    case 'holders': return holders(req.multihashes, req.provider)
    case 'records': return Promise.all(req.pairs.map(({ key, local }) =>
      stopped.has(local) ? [] : providerRecords(nodes[local], req.multihashes[key])))
    case 'stopNodes': return stopSome(req.locals)
    case 'tarpit': return tarpit(req.locals)
    case 'setLatency':
      Object.assign(latency, { meanMs: req.meanMs, jitterMs: req.jitterMs })
      return null
    case 'shutdown': return shutdown()
  }
}

async function start(count: number, protocol: string): Promise<NodeAddrs[]> {
  const created = await Promise.all(Array.from({ length: count }, () => createServer(protocol)))
  for (const node of created) delayAnswers(node, latency)
  nodes.push(...created)
  // libp2p 3 reports listen addresses with /p2p/<id> appended; keep the transport
  // part, so that every consumer appends the id exactly once.
  return created.map((n) => {
    const peerId = n.peerId.toString()
    return { peerId, multiaddrs: n.getMultiaddrs().map((m) => m.toString().replace(`/p2p/${peerId}`, '')) }
  })
}

function live(): number[] {
  return nodes.map((_, i) => i).filter((i) => !stopped.has(i))
}

/**
 * Opens the connections the parent planned; identify then puts each peer in
 * the kad routing table. Dials go through a small pool: with every node
 * dialling at once, handshakes queue behind each other on a busy core, run
 * into the 10 s upgrade timeout, and the wasted half-handshakes cost more
 * CPU than the parallelism gains. Failures get one more try at the end.
 */
async function connect(plan: Array<{ local: number; targets: NodeAddrs[] }>, concurrency: number): Promise<Responses['connect']> {
  let jobs = plan.filter((p) => !stopped.has(p.local)).flatMap(({ local, targets }) => targets.map((target) => ({ local, target })))
  let ok = 0
  for (let attempt = 0; attempt < 2 && jobs.length > 0; attempt++) {
    const failed: typeof jobs = []
    await pool(jobs, concurrency, async (job) => {
      try {
        await nodes[job.local].dial(multiaddr(`${job.target.multiaddrs[0]}/p2p/${job.target.peerId}`))
        ok++
      } catch {
        failed.push(job)
      }
    })
    jobs = failed
  }
  return { ok, failed: jobs.length }
}

async function pool<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await run(items[next++])
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker))
}

async function lookups(concurrency: number): Promise<Responses['selfLookup']> {
  let failed = 0
  await pool(live(), concurrency, async (i) => {
    try {
      await selfLookup(nodes[i], AbortSignal.timeout(60_000))
    } catch {
      failed++
    }
  })
  return { failed }
}

async function providers(multihash: Uint8Array): Promise<Responses['providers']> {
  const out = await Promise.all(live().map(async (local) => ({ local, records: await providerRecords(nodes[local], multihash) })))
  return out.filter((o) => o.records.length > 0)
}

async function holders(multihashes: Uint8Array[], provider: string | undefined): Promise<number[][]> {
  const result: number[][] = multihashes.map(() => [])
  const wanted = new Map<string, number[]>()
  multihashes.forEach((mh, k) => {
    const key = storeKey(mh)
    const slots = wanted.get(key)
    if (slots == null) wanted.set(key, [k])
    else slots.push(k)
  })
  for (const local of live()) {
    for (const key of await heldKeys(nodes[local], provider)) {
      for (const k of wanted.get(key) ?? []) result[k].push(local)
    }
  }
  return result
}

async function stopSome(locals: number[]): Promise<null> {
  const fresh = locals.filter((i) => nodes[i] != null && !stopped.has(i))
  for (const i of fresh) stopped.add(i)
  await Promise.all(fresh.map((i) => nodes[i].stop()))
  return null
}

/** Stops the nodes, then puts a tarpit on each one's port; the stop closes every connection it had. */
async function tarpit(locals: number[]): Promise<null> {
  const fresh = locals.filter((i) => nodes[i] != null && !stopped.has(i))
  const ports = fresh.map((i) => tcpListenPort(nodes[i]))
  await stopSome(fresh)
  tarpits.push(...await Promise.all(ports.map(({ host, port }) => Tarpit.listen(host, port))))
  return null
}

async function shutdown(): Promise<null> {
  await stopSome(nodes.map((_, i) => i))
  await Promise.all(tarpits.map((t) => t.close()))
  // Exit after the reply has gone out; the parent also kills us if this stalls.
  setTimeout(() => process.exit(0), 50)
  return null
}
