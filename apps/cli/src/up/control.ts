/**
 * `sweep up`'s control socket, <dir>/control.sock: `sweep scale N` asks the running
 * `sweep up` to change its worker count. HTTP on a Unix socket, so only users who can
 * open the state directory can use it, and no port is taken.
 */
import { existsSync, unlinkSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type Server } from 'node:http'
import { join, resolve } from 'node:path'

export const CONTROL_SOCKET = 'control.sock'

export interface ScaleAnswer {
  readonly workers: number
  readonly started: string[]
  readonly stopping: string[]
}

export function controlSocketPath(dir: string): string {
  return join(resolve(dir), CONTROL_SOCKET)
}

/** Serves PUT /workers {"count":N} until closed. */
export async function serveControl(dir: string, scale: (count: number) => Promise<ScaleAnswer>): Promise<{ close: () => Promise<void> }> {
  const path = controlSocketPath(dir)
  // a socket file left by a sweep up that was killed; a live one was ruled out by the API port check
  if (existsSync(path)) unlinkSync(path)
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.method !== 'PUT' || req.url !== '/workers') return reply(404, { error: `no such control: ${req.method} ${req.url}` })
    void readJson(req)
      .then((body) => {
        const count = (body as { count?: unknown } | null)?.count
        if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) throw new BadRequest(`count: expected an integer ≥ 0, got ${JSON.stringify(count)}`)
        return scale(count)
      })
      .then((answer) => reply(200, answer), (error: unknown) => reply(error instanceof BadRequest ? 400 : 500, { error: (error as Error).message }))
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(path, ok)
  })
  return {
    close: () => new Promise<void>((ok) => {
      server.close(() => ok())
      server.closeAllConnections()
    })
  }
}

/** Asks the `sweep up` running in dir for count workers. */
export async function requestScale(dir: string, count: number): Promise<ScaleAnswer> {
  const socketPath = controlSocketPath(dir)
  if (!existsSync(socketPath)) throw new Error(`no sweep up is running in ${resolve(dir)} (no ${CONTROL_SOCKET}); pass --dir with the directory sweep up uses`)
  const body = JSON.stringify({ count })
  const res = await new Promise<IncomingMessage>((ok, fail) => {
    const req = request({ socketPath, method: 'PUT', path: '/workers', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, ok)
    req.once('error', (error: NodeJS.ErrnoException) => fail(error.code === 'ECONNREFUSED'
      ? new Error(`no sweep up answers on ${socketPath} (a stale socket: it was stopped or killed)`)
      : error))
    req.end(body)
  })
  const answer = await readJson(res) as ScaleAnswer & { error?: string }
  if (res.statusCode !== 200) throw new Error(answer.error ?? `sweep up answered ${res.statusCode}`)
  return answer
}

class BadRequest extends Error {}

async function readJson(stream: IncomingMessage): Promise<unknown> {
  let text = ''
  for await (const chunk of stream) {
    text += String(chunk)
    if (text.length > 4096) throw new BadRequest('body too large')
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new BadRequest(`body: expected JSON such as {"count":2}, got ${JSON.stringify(text.slice(0, 80))}`)
  }
}
