/** Which Redis `sweep up` uses: the one given, one already at 127.0.0.1:6379, or its own. */
import { connect } from 'node:net'
import { join } from 'node:path'
import type { RedisServer } from '@sweep/store'

export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379'

export interface ChosenRedis {
  readonly url: string
  /** Set when we started it, so we stop it too. */
  readonly server?: RedisServer
  readonly source: 'given' | 'local' | 'started'
}

/**
 * `redis`: a URL, 'private' (always start our own: the demo must not touch a Redis
 * someone else uses), or undefined (a Redis at 6379 if one answers, else our own).
 */
export async function chooseRedis(redis: string | undefined, dir: string): Promise<ChosenRedis> {
  if (redis !== undefined && redis !== 'private') return { url: redis, source: 'given' }
  if (redis === undefined && await answersPing('127.0.0.1', 6379)) return { url: LOCAL_REDIS_URL, source: 'local' }
  const { startRedisServer } = await import('@sweep/store')
  const server = await startRedisServer({ dir: join(dir, 'redis'), appendOnly: true })
  return { url: server.url, server, source: 'started' }
}

/** A raw RESP PING, so finding a Redis needs no client library and gives up fast. */
export function answersPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    let reply = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (data) => {
      reply += data.toString()
      // "-NOAUTH" means a Redis that wants a password: not one we can use without --redis
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}
