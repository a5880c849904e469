import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { cycleNumber } from '@sweep/sweep'
import { context, extractTrace, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@sweep/telemetry'
import { HttpError, sendJson, type Route } from './http.ts'
import { addToUpload, commitUpload, provide, replaceSet, stop, type IntakeDeps } from './intake.ts'
import { startDashboard } from './dashboard-routes.ts'
import { checkRequest, dashboardCookie } from './request-guard.ts'
import { OPENAPI } from './openapi.ts'
import { ResetUploads } from './reset-uploads.ts'
import { cidView, sampleView, statsView, type ViewDeps } from '../views.ts'

const MAX_SAMPLE = 10_000
/** How long stop() lets requests under way finish before it cuts their connections. */
export const DRAIN_GRACE_MS = 10_000

export interface ApiDeps extends IntakeDeps, ViewDeps {
  readonly token?: string
  readonly log: Logger
  /** Idle time after which an open reset upload is aborted (default 15 min). */
  readonly uploadIdleMs?: number
  /** How long close() waits for requests under way (default DRAIN_GRACE_MS). */
  readonly drainGraceMs?: number
  /** Told the bytes each finished request read, as the coordinator's IdleMemoryRelease wants. */
  readonly onRequestRead?: (bytes: number) => void
  /** How often the dashboard's /v1/events sends a snapshot (default 2 s). */
  readonly eventIntervalMs?: number
}

export interface ApiServer {
  readonly url: string
  /** Stops taking requests, lets those under way finish (up to the drain grace), then closes. */
  close(): Promise<void>
}

function allowEmpty(url: URL): boolean {
  const value = url.searchParams.get('allowEmpty')
  return value === '1' || value === 'true'
}

export async function startApiServer(deps: ApiDeps, host: string, port: number): Promise<ApiServer> {
  const uploads = new ResetUploads(deps.keystore, deps.uploadIdleMs)
  const dashboard = startDashboard(deps)
  const routes: Route[] = [
    ['POST', /^\/v1\/provide$/, async (req, url) => [200, await provide(req, deps, url.searchParams.get('once') === '1')]],
    ['POST', /^\/v1\/stop$/, async (req) => [200, await stop(req, deps)]],
    ['PUT', /^\/v1\/reprovide-set$/, async (req, url) => [200, await replaceSet(req, deps, uploads, allowEmpty(url))]],
    ['POST', /^\/v1\/reprovide-set\/uploads$/, async () => [201, { upload: await uploads.open() }]],
    ['POST', /^\/v1\/reprovide-set\/uploads\/([\w-]+)$/, async (req, _url, [id]) => [200, await addToUpload(req, deps, uploads, id)]],
    ['POST', /^\/v1\/reprovide-set\/uploads\/([\w-]+)\/commit$/, async (_req, url, [id]) => [200, await commitUpload(deps, uploads, id, allowEmpty(url))]],
    ['DELETE', /^\/v1\/reprovide-set\/uploads\/([\w-]+)$/, async (_req, _url, [id]) => {
      await uploads.abort(id)
      return [200, { aborted: true }]
    }],
    ['GET', /^\/v1\/stats$/, async () => [200, await statsView(deps, Date.now())]],
    ['GET', /^\/v1\/cids\/([^/]+)$/, async (_req, _url, [cid]) => [200, await cidView(deps, decodeURIComponent(cid), Date.now())]],
    ['GET', /^\/v1\/sample$/, async (_req, url) => {
      const n = Number(url.searchParams.get('n') ?? 50)
      if (!Number.isSafeInteger(n) || n < 1 || n > MAX_SAMPLE) throw new HttpError(400, `n must be an integer from 1 to ${MAX_SAMPLE}`)
      return [200, await sampleView(deps, n)]
    }],
    ['POST', /^\/v1\/sweep$/, async () => [202, { queued: await sweepNow(deps) }]],
    ['GET', /^\/v1\/openapi\.json$/, async () => [200, OPENAPI]],
    ...dashboard.routes
  ]

  const server = createServer((req, res) => {
    void handle(req, res, routes, deps, host).catch((error: unknown) => deps.log.error({ err: error }, 'api response failed'))
  })
  const sweeper = setInterval(() => {
    uploads.abortIdle(deps.log).catch((error: unknown) => deps.log.warn({ err: error }, 'aborting an idle reset upload failed'))
  }, uploads.sweepMs)
  sweeper.unref()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve))
  return {
    url: urlOf(server, host),
    close: () => {
      // event streams never end by themselves: end them first, or they would hold the drain grace
      dashboard.close()
      return closeServer(server, sweeper, deps.drainGraceMs ?? DRAIN_GRACE_MS)
    }
  }
}

/**
 * A SERVER span per request, continuing the caller's traceparent: a provide's trace then
 * runs on through the burst job it causes (see RequestTraces). Named by the route, not the
 * path, so a CID never becomes a span name.
 */
function handle(req: IncomingMessage, res: ServerResponse, routes: Route[], deps: ApiDeps, listenHost: string): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://api')
  const matches = routes.filter(([, pattern]) => pattern.test(url.pathname))
  const span = trace.getTracer('sweep-api').startSpan(`${req.method} ${matches.length === 0 ? 'unknown route' : routeName(matches[0][1])}`, {
    kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': url.pathname }
  }, extractTrace({ traceparent: String(req.headers.traceparent ?? ''), tracestate: String(req.headers.tracestate ?? '') }))
  // 'close' comes after 'finish', and also when the client leaves first (an event stream)
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode)
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  })
  return context.with(trace.setSpan(ROOT_CONTEXT, span), () => respond(req, res, url, matches, deps, listenHost))
}

/** `/^\/v1\/cids\/([^/]+)$/` → `/v1/cids/{}`. */
function routeName(pattern: RegExp): string {
  return pattern.source.replace(/^\^|\$$/g, '').replace(/\([^)]*\)/g, '{}').replace(/\\(.)/g, '$1')
}

/** `matches` are the routes whose pattern fits the path, whatever their method. */
async function respond(req: IncomingMessage, res: ServerResponse, url: URL, matches: Route[], deps: ApiDeps, listenHost: string): Promise<void> {
  // one request at a time per connection, so the socket's growth is this request's
  const readBefore = req.socket.bytesRead
  res.once('finish', () => deps.onRequestRead?.(req.socket.bytesRead - readBefore))
  try {
    // GETs change nothing, so a browser may authenticate them with the dashboard's cookie
    const read = req.method === 'GET'
    checkRequest(req, {
      listenHost, token: deps.token,
      cookie: read ? dashboardCookie(req.socket.localPort) : undefined,
      queryToken: read && url.pathname === '/' ? url.searchParams.get('token') : null
    })
    if (matches.length === 0) throw new HttpError(404, `no such endpoint: ${url.pathname}`)
    const route = matches.find(([method]) => method === req.method)
    if (!route) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}; use ${matches.map(([m]) => m).join(' or ')}`)
    const answer = await route[2](req, url, route[1].exec(url.pathname)!.slice(1), res)
    if (answer !== undefined) sendJson(res, answer[0], answer[1])
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500
    if (status === 500) deps.log.error({ err: error, path: url.pathname }, 'api request failed')
    if (!res.headersSent) sendJson(res, status, { error: (error as Error).message })
    // a refused body is not read further; closing the connection stops the client sending it
    if (status === 413) req.destroy()
  }
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

function urlOf(server: Server, host: string): string {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Stops accepting connections and lets the requests under way finish, so a provide that was
 * being stored when the coordinator was told to stop still stores every key and answers, before
 * the caller closes Redis. Idle keep-alive connections are closed as they become idle; whatever
 * is still running after graceMs is cut.
 */
async function closeServer(server: Server, sweeper: NodeJS.Timeout, graceMs: number): Promise<void> {
  clearInterval(sweeper)
  const closed = new Promise((resolve) => server.close(resolve))
  const deadline = Date.now() + graceMs
  let done = false
  void closed.then(() => { done = true })
  while (!done && Date.now() < deadline) {
    server.closeIdleConnections()
    await Promise.race([closed, sleep(50)])
  }
  server.closeAllConnections()
  await closed
}
