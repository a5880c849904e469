import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

export interface OpsServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** true = ready; false or a string (the reason) = not ready. */
export type ReadyCheck = () => boolean | string | Promise<boolean | string>

export interface OpsServerOptions {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly registry: Registry
  readonly ready: ReadyCheck
  /** Liveness; default always healthy. */
  readonly health?: () => boolean | Promise<boolean>
}

/**
 * The metrics port: GET /metrics (Prometheus text), /healthz and /readyz.
 * No token here, as for any scrape or probe endpoint: bind it where only the
 * cluster can reach it.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      send(response, 500, `internal error: ${error instanceof Error ? error.message : String(error)}\n`)
    })
  })
  // Probes and scrapes are short; don't let idle keep-alive sockets hold close() up.
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  const reachableHost = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host
  return {
    url: `http://${reachableHost}:${port}`,
    port,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()))
      server.closeIdleConnections()
    })
  }
}

async function handle(options: OpsServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0]
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD')
    send(response, 405, 'method not allowed\n')
    return
  }
  switch (path) {
    case '/metrics': {
      const text = await options.registry.metrics()
      send(response, 200, text, options.registry.contentType)
      return
    }
    case '/healthz': {
      const healthy = await check(() => options.health?.() ?? true)
      if (healthy === true) send(response, 200, 'ok\n')
      else send(response, 503, `unhealthy${healthy === false ? '' : `: ${healthy}`}\n`)
      return
    }
    case '/readyz': {
      const ready = await check(options.ready)
      if (ready === true) send(response, 200, 'ready\n')
      else send(response, 503, `not ready${ready === false ? '' : `: ${ready}`}\n`)
      return
    }
    default:
      send(response, 404, 'not found\n')
  }
}

/** A check that throws is not passing; its message is the reason. */
async function check(fn: () => boolean | string | Promise<boolean | string>): Promise<boolean | string> {
  try {
    return await fn()
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

function send(response: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) })
  response.end(response.req.method === 'HEAD' ? undefined : body)
}

/**
 * Parses a listen address: 'HOST:PORT', '[v6]:PORT', ':PORT' or 'PORT'. Without
 * a host it listens on all interfaces (0.0.0.0), as a probe port in a pod must.
 */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const text = value.trim()
  const expected = `${flag}: expected HOST:PORT, :PORT or PORT`
  let host: string
  let portText: string
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(.*)$/.exec(text)
  if (v6 !== null) {
    host = v6[1]
    portText = v6[2]
  } else if (/^\d+$/.test(text)) {
    host = '0.0.0.0'
    portText = text
  } else {
    const colon = text.lastIndexOf(':')
    if (colon < 0 || text.indexOf(':') !== colon) throw new Error(`${expected}, got ${JSON.stringify(value)}`)
    host = text.slice(0, colon) || '0.0.0.0'
    portText = text.slice(colon + 1)
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new Error(`${expected}, got ${JSON.stringify(value)}: bad host ${JSON.stringify(host)}`)
  }
  if (!/^\d+$/.test(portText)) throw new Error(`${expected}, got ${JSON.stringify(value)}: port ${JSON.stringify(portText)} is not a number`)
  const port = Number(portText)
  if (port > 65535) throw new Error(`${flag}: port must be 0-65535, got ${port}`)
  return { host, port }
}
