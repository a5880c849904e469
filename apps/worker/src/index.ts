export * from './worker.ts'
export * from './once.ts'
