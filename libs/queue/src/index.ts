/**
 * Region jobs and their results over BullMQ.
 *
 * Autoscaling: the Redis LIST `{<namespace>}:regions:wait` (default
 * `{sweep}:regions:wait`) holds every ready region job, burst-lane provide jobs
 * included, so a KEDA `redis` trigger with `listName: "{sweep}:regions:wait"`
 * scales workers on the backlog. No job is ever prioritized, so the
 * `:prioritized` ZSET stays empty. queueKeys() spells all of these out.
 */
export * from './schema.ts'
export * from './names.ts'
export * from './region-queue.ts'
export * from './region-worker.ts'
export * from './result-consumer.ts'
