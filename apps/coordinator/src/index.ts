export * from './coordinator.ts'
export * from './history.ts'
export * from './scheduler.ts'
export { multihashOf } from './api/cid-lines.ts'
