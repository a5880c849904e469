import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import { HttpError } from './http.ts'

/** A listen address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost' || bare === '::1') return true
  return isIP(bare) === 4 && bare.startsWith('127.')
}

/**
 * Refuses to serve the API beyond this machine without a token: anyone who can reach it
 * could replace the whole reprovide set.
 */
export function assertSafeListen(host: string, token: string | undefined, insecureNoToken: boolean): void {
  if (isLoopback(host) || (token !== undefined && token !== '') || insecureNoToken) return
  throw new Error(`refusing to serve the API on ${host}, which other machines can reach, without a token: ` +
    'set --api-token (SWEEP_API_TOKEN), or pass --insecure-no-token if the network in front of it is trusted')
}

/** The host name of a Host header or Origin authority, without its port, lower case. */
function hostName(authority: string): string {
  const lower = authority.toLowerCase()
  if (lower.startsWith('[')) return lower.slice(1, lower.indexOf(']'))
  const colon = lower.indexOf(':')
  // more than one colon is a bare IPv6 address, which has no port
  return colon >= 0 && lower.indexOf(':', colon + 1) < 0 ? lower.slice(0, colon) : lower
}

export interface GuardOptions {
  readonly listenHost: string
  readonly token?: string
  /**
   * Also take the token from this cookie (see dashboardCookie). Only for requests that change
   * nothing: a browser cannot put a header on a page load or an EventSource.
   */
  readonly cookie?: string
  /** Also take this token, given in the query string (the dashboard's first page load). */
  readonly queryToken?: string | null
}

/**
 * The cookie the dashboard keeps the token in. Cookies ignore ports, so the name carries the
 * port: two local clusters with different tokens don't overwrite each other's.
 */
export function dashboardCookie(port: number | undefined): string {
  return `sweep-token-${port ?? 0}`
}

/** The value of one cookie in a Cookie header, if it is there. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=')
    if (eq > 0 && pair.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(pair.slice(eq + 1).trim())
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

/** Compares in constant time, so the answer's timing tells nothing about the token. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  const a = Buffer.from(given ?? '')
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * What keeps a web page out of a coordinator on this machine. A page's fetch carries an
 * Origin, so any Origin but the API's own is refused; a page on a DNS-rebound name sends
 * that name as Host, so a tokenless loopback API answers only to loopback names.
 */
export function checkRequest(req: IncomingMessage, options: GuardOptions): void {
  const host = req.headers.host
  const tokenless = options.token === undefined || options.token === ''
  if (tokenless && isLoopback(options.listenHost) && host !== undefined) {
    const name = hostName(host)
    if (!isLoopback(name) && name !== hostName(options.listenHost)) {
      throw new HttpError(403, `Host "${host}" is not this machine; a coordinator without a token on ${options.listenHost} answers only to localhost, 127.0.0.1 and [::1]`)
    }
  }
  const origin = req.headers.origin
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
    throw new HttpError(403, `requests from web pages (Origin "${origin}") are refused; use the sweep CLI or an HTTP client that sends no Origin`)
  }
  if (!tokenless) {
    const token = options.token!
    const header = tokenMatches(req.headers.authorization, `Bearer ${token}`)
    const cookie = options.cookie !== undefined && tokenMatches(cookieValue(req.headers.cookie, options.cookie), token)
    const query = options.queryToken != null && tokenMatches(options.queryToken, token)
    if (!header && !cookie && !query) {
      throw new HttpError(401, 'missing or wrong bearer token (set SWEEP_API_TOKEN / --token; in a browser open /?token=<token>)')
    }
  }
}
