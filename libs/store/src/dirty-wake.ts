import type { Cluster, Redis } from 'ioredis'
import { DEFAULT_NAMESPACE, storeKeys } from './names.ts'
import { isCluster } from './redis.ts'

export interface DirtyWakeSubscription {
  close(): Promise<void>
}

/**
 * Calls onWake whenever ScheduleStore.announceDirty runs anywhere in the namespace.
 * Returns at once. A subscribed Redis connection can do nothing else, so this one is a duplicate of
 * `redis`, closed by close(). ioredis re-subscribes after a reconnect; messages sent
 * while it was away are lost, which the leader's regular tick covers.
 */
export function subscribeDirtyWake(
  redis: Redis, onWake: () => void, namespace: string = DEFAULT_NAMESPACE, onError: (error: unknown) => void = () => {}
): DirtyWakeSubscription {
  const channel = storeKeys(namespace).dirtyWake
  // a Cluster client's duplicate takes startup nodes, not options; its subscription lives on one node, and PUBLISH reaches every node
  const subscriber = isCluster(redis)
    ? (redis as unknown as Cluster).duplicate() as unknown as Redis
    : redis.duplicate({ connectionName: `${redis.options.connectionName ?? 'sweep'}-wake` })
  subscriber.on('error', () => { /* reconnects on its own; the tick covers the gap */ })
  let closed = false
  // disconnect() returns before the socket is gone, and a message already on the wire still arrives
  subscriber.on('message', (from: string) => { if (from === channel && !closed) onWake() })
  // Not awaited: with Redis away, SUBSCRIBE waits for it, and the caller (a new leader)
  // must not wait with it. Until it lands, the tick alone finds new keys.
  subscriber.subscribe(channel).catch(onError)
  return {
    close: async () => {
      closed = true
      subscriber.disconnect()
    }
  }
}
