import { randomUUID, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { cycleNumber } from '@sweep/sweep'
import { HttpError, sendJson } from './http.ts'
import { addToReset, commitReset, provide, stop, type IntakeDeps, type ResetUpload } from './intake.ts'
import { cidView, sampleView, statsView, type ViewDeps } from '../views.ts'

/** An upload nobody touched for this long is aborted, so a vanished client can't block resets forever. */
const UPLOAD_IDLE_MS = 15 * 60_000
const MAX_SAMPLE = 10_000

export interface ApiDeps extends IntakeDeps, ViewDeps {
  readonly token?: string
  readonly log: Logger
}

export interface ApiServer {
  readonly url: string
  close(): Promise<void>
}

type Handler = (req: IncomingMessage, url: URL, params: string[]) => Promise<[number, unknown]>

export async function startApiServer(deps: ApiDeps, host: string, port: number): Promise<ApiServer> {
  const uploads = new Map<string, ResetUpload>()
  const upload = (id: string): ResetUpload => {
    const found = uploads.get(id)
    if (!found) throw new HttpError(404, `no reset upload "${id}" (it was committed, aborted, or idle for over 15 min)`)
    found.lastUsed = Date.now()
    return found
  }
  const routes: Array<[string, RegExp, Handler]> = [
    ['POST', /^\/v1\/provide$/, async (req, url) => [200, await provide(req, deps, url.searchParams.get('once') === '1')]],
    ['POST', /^\/v1\/stop$/, async (req) => [200, await stop(req, deps)]],
    ['PUT', /^\/v1\/reprovide-set$/, async (req) => {
      const whole: ResetUpload = { reset: await deps.keystore.beginReset(), buckets: new Set(), lastUsed: Date.now() }
      try {
        const tally = await addToReset(req, deps, whole)
        return [200, { ...tally, ...await commitReset(deps, whole) }]
      } catch (error) {
        await whole.reset.abort()
        throw error
      }
    }],
    ['POST', /^\/v1\/reprovide-set\/uploads$/, async () => {
      const id = randomUUID()
      uploads.set(id, { reset: await deps.keystore.beginReset(), buckets: new Set(), lastUsed: Date.now() })
      return [201, { upload: id }]
    }],
    ['POST', /^\/v1\/reprovide-set\/uploads\/([\w-]+)$/, async (req, _url, [id]) => [200, await addToReset(req, deps, upload(id))]],
    ['POST', /^\/v1\/reprovide-set\/uploads\/([\w-]+)\/commit$/, async (_req, _url, [id]) => {
      const result = await commitReset(deps, upload(id))
      uploads.delete(id)
      return [200, result]
    }],
    ['DELETE', /^\/v1\/reprovide-set\/uploads\/([\w-]+)$/, async (_req, _url, [id]) => {
      await upload(id).reset.abort()
      uploads.delete(id)
      return [200, { aborted: true }]
    }],
    ['GET', /^\/v1\/stats$/, async () => [200, await statsView(deps, Date.now())]],
    ['GET', /^\/v1\/cids\/([^/]+)$/, async (_req, _url, [cid]) => [200, await cidView(deps, decodeURIComponent(cid), Date.now())]],
    ['GET', /^\/v1\/sample$/, async (_req, url) => {
      const n = Number(url.searchParams.get('n') ?? 50)
      if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SAMPLE) throw new HttpError(400, `n must be an integer from 1 to ${MAX_SAMPLE}`)
      return [200, await sampleView(deps, n)]
    }],
    ['POST', /^\/v1\/sweep$/, async () => [202, { queued: await sweepNow(deps) }]]
  ]

  const server = createServer((req, res) => {
    void handle(req, res, routes, deps).catch((error: unknown) => deps.log.error({ err: error }, 'api response failed'))
  })
  const sweeper = setInterval(() => void abortIdle(uploads, deps.log), 60_000)
  sweeper.unref()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  return { url: urlOf(server, host), close: () => closeServer(server, sweeper, uploads) }
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Array<[string, RegExp, Handler]>, deps: ApiDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://api')
  try {
    if (!authorized(req, deps.token)) throw new HttpError(401, 'missing or wrong bearer token (set SWEEP_API_TOKEN / --token)')
    const matches = routes.filter(([, pattern]) => pattern.test(url.pathname))
    if (matches.length === 0) throw new HttpError(404, `no such endpoint: ${url.pathname}`)
    const route = matches.find(([method]) => method === req.method)
    if (!route) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}; use ${matches.map(([m]) => m).join(' or ')}`)
    const [status, body] = await route[2](req, url, route[1].exec(url.pathname)!.slice(1))
    sendJson(res, status, body)
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500
    if (status === 500) deps.log.error({ err: error, path: url.pathname }, 'api request failed')
    if (!res.headersSent) sendJson(res, status, { error: (error as Error).message })
    // a refused body is not read further; closing the connection stops the client sending it
    if (status === 413) req.destroy()
  }
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined || token === '') return true
  const given = Buffer.from(req.headers.authorization ?? '')
  const expected = Buffer.from(`Bearer ${token}`)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

async function sweepNow(deps: ApiDeps): Promise<number> {
  const [regions, cycleStart] = await Promise.all([deps.schedule.regions(), deps.schedule.cycleStart()])
  const cycle = cycleStart === undefined ? 0 : cycleNumber({ cycleStart, intervalMs: deps.intervalMs, self: deps.self }, Date.now())
  let queued = 0
  for (const prefix of regions.keys()) {
    if (await deps.queue.enqueue({ prefix, reason: 'manual', attempt: 0, cycle, enqueuedAt: Date.now() })) queued++
  }
  return queued
}

async function abortIdle(uploads: Map<string, ResetUpload>, log: Logger): Promise<void> {
  for (const [id, upload] of uploads) {
    if (Date.now() - upload.lastUsed < UPLOAD_IDLE_MS) continue
    uploads.delete(id)
    await upload.reset.abort().catch((error: unknown) => log.warn({ err: error, upload: id }, 'aborting an idle reset upload failed'))
    log.warn({ upload: id }, 'aborted a reset upload idle for 15 min')
  }
}

function urlOf(server: Server, host: string): string {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

async function closeServer(server: Server, sweeper: NodeJS.Timeout, uploads: Map<string, ResetUpload>): Promise<void> {
  clearInterval(sweeper)
  for (const upload of uploads.values()) await upload.reset.abort().catch(() => {})
  uploads.clear()
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}
