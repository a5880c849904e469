import { Redis } from 'ioredis'

export interface ConnectOptions {
  /** CLIENT SETNAME, so `CLIENT LIST` tells the coordinator, workers and CLI apart. */
  readonly name?: string
}

/**
 * An ioredis client for sweep. maxRetriesPerRequest is null because BullMQ's
 * blocking connections require it, and a command should wait out a Redis restart
 * rather than fail after a few reconnect attempts.
 */
export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: options.name ?? 'sweep' })
}

/**
 * The URL with its user and password replaced by `***`, for logs and errors: the
 * first thing an operator pastes into an issue is the error that printed it.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = parsed.username === '' ? '' : '***'
    parsed.password = parsed.password === '' ? '' : '***'
    return parsed.toString()
  } catch {
    // not a URL, yet it may still hold "user:password@": cut everything before the last @
    return url.replace(/\/\/[^/]*@/, '//***@')
  }
}

/**
 * Resolves once Redis answers PING. With maxRetriesPerRequest null a PING sent to an
 * unreachable server waits forever, so the wait is bounded here and the last
 * connection error becomes the reason.
 */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  let lastError: string | undefined
  const onError = (error: Error) => { lastError = error.message || String(error) }
  redis.on('error', onError)
  let timer: NodeJS.Timeout | undefined
  try {
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const answer = await Promise.race([redis.ping().catch((error: Error) => { lastError = error.message; return 'failed' }), timedOut])
      if (answer === 'PONG') return
      if (answer === 'timeout') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${lastError ?? `no answer to PING within ${timeoutMs} ms`}`)
  } finally {
    clearTimeout(timer)
    redis.off('error', onError)
  }
}
