import { readdirSync, readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { extname, join } from 'node:path'
import type { Logger } from 'pino'
import { DashboardMemory, dashboardUpdate, dashboardView } from '../dashboard-view.ts'
import type { ViewDeps } from '../views.ts'
import { HttpError, type Route } from './http.ts'
import { dashboardCookie } from './request-guard.ts'
import { DEFAULT_EVENT_INTERVAL_MS, SnapshotStream } from './event-stream.ts'

/** How often the throughput history samples the counters while no page is open. */
const SAMPLE_MS = 10_000

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8'
}

/** Everything the page loads comes from here; nothing inline, so the policy can forbid inline script. */
const HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  // the first load's URL carries the token: no Referer may repeat it
  'referrer-policy': 'no-referrer'
}

export interface DashboardDeps extends ViewDeps {
  readonly token?: string
  readonly log: Logger
  /** How often /v1/events sends a snapshot (default 2 s). */
  readonly eventIntervalMs?: number
}

export interface Dashboard {
  readonly routes: Route[]
  /** Ends the event streams and stops sampling. */
  close(): void
}

/** The page's files, read once: they ship with the code and never change while it runs. */
function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const dir = join(import.meta.dirname, '../dashboard')
  const assets = new Map<string, { type: string; body: Buffer }>()
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (type !== undefined) assets.set(name, { type, body: readFileSync(join(dir, name)) })
  }
  return assets
}

function sendAsset(res: ServerResponse, asset: { type: string; body: Buffer }): void {
  res.writeHead(200, { ...HEADERS, 'content-type': asset.type, 'content-length': asset.body.length })
  res.end(asset.body)
}

/**
 * The web dashboard: the page at `/`, its files under `/dashboard/`, its data at `/v1/dashboard`
 * and live at `/v1/events`. A browser can't send the bearer header on a page load or an
 * EventSource, so `/?token=` (checked by the request guard) moves the token into an HttpOnly,
 * SameSite=Strict cookie and redirects to a URL without it; GETs accept that cookie.
 */
export function startDashboard(deps: DashboardDeps): Dashboard {
  const assets = loadAssets()
  const memory = new DashboardMemory()
  const snapshot = () => dashboardView(deps, memory, Date.now())
  const stream = new SnapshotStream({ build: snapshot, update: dashboardUpdate }, deps.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS, deps.log)
  const sampler = setInterval(() => {
    deps.schedule.counters().then((counters) => memory.note(Date.now(), counters))
      .catch((error: unknown) => deps.log.debug({ err: error }, 'sampling the counters for the dashboard failed'))
  }, SAMPLE_MS)
  sampler.unref()

  const routes: Route[] = [
    ['GET', /^\/$/, async (req, url, _params, res) => {
      const tokenSet = deps.token !== undefined && deps.token !== ''
      if (url.searchParams.has('token')) {
        const cookie = tokenSet ? `${dashboardCookie(req.socket.localPort)}=${encodeURIComponent(deps.token!)}; HttpOnly; SameSite=Strict; Path=/` : undefined
        res.writeHead(303, { ...HEADERS, location: '/', ...(cookie === undefined ? {} : { 'set-cookie': cookie }) }).end()
        return undefined
      }
      sendAsset(res, assets.get('index.html')!)
      return undefined
    }],
    ['GET', /^\/dashboard\/([\w.-]+)$/, async (_req, _url, [name], res) => {
      const asset = assets.get(name)
      if (asset === undefined || name === 'index.html') throw new HttpError(404, `no such dashboard file: ${name}`)
      sendAsset(res, asset)
      return undefined
    }],
    ['GET', /^\/v1\/dashboard$/, async () => [200, await snapshot()]],
    ['GET', /^\/v1\/events$/, async (req, _url, _params, res) => {
      await stream.add(req, res)
      return undefined
    }]
  ]
  return {
    routes,
    close() {
      clearInterval(sampler)
      stream.close()
    }
  }
}
