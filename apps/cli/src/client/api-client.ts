/** A small fetch wrapper for the sweep HTTP API: base URL, bearer token, and errors that say what to do. */

export const DEFAULT_API_URL = 'http://127.0.0.1:8080'
const DEFAULT_TIMEOUT_MS = 300_000

/** The API answered with an error status; message carries the API's own `{error}` text. */
export class ApiError extends Error {
  readonly status: number
  readonly apiMessage: string
  constructor(status: number, apiMessage: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.apiMessage = apiMessage
  }
}

/** Nothing answered at the API address. */
export class ApiUnreachableError extends Error {
  readonly url: string
  constructor(url: string, reason: string, cause: unknown) {
    super(`cannot reach the sweep API at ${url} (${reason}): start a local cluster with \`sweep up\`, ` +
      'or point --api (or SWEEP_API_URL) at a running coordinator', { cause })
    this.name = 'ApiUnreachableError'
    this.url = url
  }
}

export interface ApiClientOptions {
  /** http(s) URL, or HOST:PORT (http is assumed). */
  readonly url?: string
  readonly token?: string
  /** Per-request bound; default 5 minutes, since a 4 MiB chunk is a lot of Redis work. */
  readonly timeoutMs?: number
}

export interface RequestOptions {
  readonly body?: Uint8Array | string | object
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
}

/** "127.0.0.1:8080" → "http://127.0.0.1:8080"; trailing slashes dropped; anything else is refused naming it. */
export function normalizeApiUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new Error(`--api: "${text}" is not a URL (expected e.g. http://127.0.0.1:8080)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--api: "${text}" must be an http or https URL`)
  return url.toString().replace(/\/+$/, '')
}

export class ApiClient {
  readonly baseUrl: string
  private readonly token: string | undefined
  private readonly timeoutMs: number

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = normalizeApiUrl(options.url ?? DEFAULT_API_URL)
    this.token = options.token === '' ? undefined : options.token
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options)
  }

  post<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, options)
  }

  delete<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, options)
  }

  /** Sends a request and parses the JSON answer; throws ApiError, ApiUnreachableError, or the abort reason. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let body: Uint8Array | string | undefined
    if (typeof options.body === 'string' || options.body instanceof Uint8Array) {
      body = options.body
      headers['content-type'] ??= 'text/plain; charset=utf-8'
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body, signal })
    } catch (error) {
      if (options.signal?.aborted === true) throw options.signal.reason
      if (timeout.aborted) throw new Error(`${method} ${this.baseUrl}${path}: no answer within ${Math.round((options.timeoutMs ?? this.timeoutMs) / 1000)} s`, { cause: error })
      throw new ApiUnreachableError(this.baseUrl, networkReason(error), error)
    }
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (!response.ok) {
      const apiMessage = typeof (parsed as { error?: unknown } | undefined)?.error === 'string'
        ? (parsed as { error: string }).error
        : text.slice(0, 200) || response.statusText
      throw new ApiError(response.status, apiMessage, `${method} ${path} failed with ${response.status}: ${apiMessage}${hint(response.status)}`)
    }
    if (parsed === undefined && text !== '') throw new Error(`${method} ${path}: the API answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`)
    return parsed as T
  }
}

function hint(status: number): string {
  if (status === 401) return ' (pass --token or set SWEEP_API_TOKEN)'
  if (status === 413) return ' (lower --chunk-bytes, or raise the coordinator\'s --max-body)'
  return ''
}

/** ECONNREFUSED and friends hide in error.cause, sometimes inside an AggregateError (IPv4 and IPv6 tried). */
function networkReason(error: unknown): string {
  const causes: unknown[] = []
  let at: unknown = error
  for (let depth = 0; at !== undefined && at !== null && depth < 4; depth++) {
    causes.push(at)
    if (at instanceof AggregateError) causes.push(...at.errors)
    at = (at as { cause?: unknown }).cause
  }
  for (const cause of causes) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code === 'ECONNREFUSED' ? 'connection refused' : code
  }
  const last = causes.at(-1)
  return last instanceof Error ? last.message : String(last)
}
