/**
 * `sweep testnet`: real, unmodified kad-dht servers (js, go or both) on
 * 127.0.0.1 until SIGINT/SIGTERM, with the faults Amino has, and an HTTP
 * control port so tests and benchmarks in other processes can add faults
 * (kill servers, make them silent, change latency) at any moment.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Command, Option } from 'commander'
import type { Testnet } from '@sweep/testnet'
import { positiveIntArg } from './client/options.ts'
import { applyFaults, resolveImpl, withTestnetOptions, type TestnetFlags } from './testnet-options.ts'

interface TestnetCommandFlags extends TestnetFlags {
  readonly nodes: number
  readonly info: string
  readonly processes?: number
  readonly protocol: string
  readonly control: string
}

export function testnetCommand(): Command {
  return withTestnetOptions(new Command('testnet')
    .description('run N real, unmodified kad-dht servers on 127.0.0.1 and write their bootstrap addresses as JSON')
    .addOption(new Option('--nodes <n>', 'number of DHT servers').argParser(positiveIntArg).default(100).env('SWEEP_TESTNET_NODES'))
    .addOption(new Option('--info <file>', 'where to write the info JSON (bootstrap multiaddrs, nodes, routing tables, control URL)').env('SWEEP_TESTNET_INFO').makeOptionMandatory())
    .addOption(new Option('--processes <n>', 'child processes for the js servers (default: about 55 servers each)').argParser(positiveIntArg))
    .addOption(new Option('--protocol <id>', 'DHT protocol').default('/ipfs/kad/1.0.0').env('SWEEP_DHT_PROTOCOL'))
    .addOption(new Option('--control <host:port>', 'HTTP control port: GET /info, POST /faults').default('127.0.0.1:0').env('SWEEP_TESTNET_CONTROL')))
    .addHelpText('after', `
Control (JSON): POST /faults {"kill": 0.3} kills 30% of the live servers (their ports refuse),
{"unreachable": 0.1} makes 10% tarpits, {"latencyMs": 80, "jitterMs": 20} sets answer latency;
the answer lists the peer ids affected. GET /info returns the info JSON.`)
    .action(async (opts: TestnetCommandFlags) => {
      const started = Date.now()
      const log = (m: string): void => console.error(m)
      const impl = await resolveImpl(opts.impl, log)
      const { startTestnet } = await import('@sweep/testnet')
      const testnet = await startTestnet({ nodes: opts.nodes, impl, processes: opts.processes, protocol: opts.protocol, log })
      await applyFaults(testnet, opts, log)
      const control = await serveControl(testnet, opts.control)
      const writeInfo = () => testnet.writeInfo(opts.info, { control: control.url })
      await writeInfo()
      console.error(`testnet: ${opts.nodes} ${impl} servers up in ${((Date.now() - started) / 1000).toFixed(1)} s; info in ${opts.info}; control at ${control.url}; Ctrl-C stops them`)
      control.onChange = writeInfo
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      console.error('testnet: stopping')
      control.server.close()
      await testnet.stop()
    })
}

interface Control { server: Server; url: string; onChange: () => Promise<void> }

interface FaultRequest { kill?: number; unreachable?: number; latencyMs?: number; jitterMs?: number }

async function serveControl(testnet: Testnet, listen: string): Promise<Control> {
  const at = listen.lastIndexOf(':')
  const host = listen.slice(0, at)
  const port = Number(listen.slice(at + 1))
  if (at < 0 || !Number.isInteger(port)) throw new Error(`--control must be HOST:PORT, got ${listen}`)
  const control: Control = { server: createServer(), url: '', onChange: async () => {} }
  control.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(testnet, req).then(async (out) => {
      if (req.method === 'POST') await control.onChange()
      reply(res, 200, out)
    }, (err: unknown) => reply(res, 400, { error: (err as Error).message }))
  })
  await new Promise<void>((resolve) => control.server.listen(port, host, resolve))
  const address = control.server.address()
  control.url = `http://${host}:${typeof address === 'object' && address != null ? address.port : port}`
  return control
}

async function handle(testnet: Testnet, req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' && req.url === '/info') return testnet.info()
  if (req.method !== 'POST' || req.url !== '/faults') throw new Error('use GET /info or POST /faults')
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  let body: FaultRequest
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as FaultRequest
  } catch (err) {
    throw new Error(`body is not JSON: ${(err as Error).message}`, { cause: err })
  }
  for (const field of ['kill', 'unreachable'] as const) {
    const v = body[field]
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) throw new Error(`${field} must be a fraction within [0, 1]`)
  }
  const killed = body.kill === undefined ? [] : testnet.pickLive(body.kill, { exclude: testnet.bootstrapIds })
  await testnet.stopNodes(killed)
  const silenced = body.unreachable === undefined ? [] : testnet.pickLive(body.unreachable, { exclude: testnet.bootstrapIds })
  await testnet.makeUnreachable(silenced)
  if (body.latencyMs !== undefined) await testnet.setLatency(body.latencyMs, body.jitterMs ?? 0)
  return { killed, unreachable: silenced, latency: testnet.info().latency }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body) + '\n')
}
