/** Response bodies of the sweep HTTP API (see the HTTP contract), as the CLI reads them. */

export interface InvalidLine {
  readonly line: number
  readonly input: string
  readonly error: string
}

export interface ProvideResponse {
  readonly accepted: number
  readonly added: number
  readonly duplicates: number
  readonly invalid: readonly InvalidLine[]
  readonly invalidCount: number
  readonly regionsQueued?: number
}

export interface StopResponse {
  readonly accepted: number
  readonly removed: number
  readonly invalid: readonly InvalidLine[]
  readonly invalidCount: number
}

export interface UploadChunkResponse {
  readonly accepted: number
  readonly invalid: readonly InvalidLine[]
  readonly invalidCount: number
}

export interface WorkerInfo {
  readonly id: string
  readonly peerId: string
  readonly host?: string
  readonly pid?: number
  readonly concurrency?: number
  readonly active?: number
  readonly lastSeen?: number
  readonly bootstrap?: readonly string[]
  readonly announce?: readonly string[]
  readonly connections?: number
}

export interface Stats {
  readonly keys: {
    readonly total: number; readonly regions: number; readonly avgRegionSize: number; readonly avgPrefixLength: number
    /** Absent from coordinators before online re-bucketing. */
    readonly bucketBits?: number
    readonly rebucketing?: { readonly fromBits: number; readonly toBits: number; readonly phase: string; readonly bucketsCopied: number; readonly buckets: number } | null
  }
  readonly queues: { readonly waiting: number; readonly prioritized: number; readonly active: number; readonly delayed: number; readonly failed: number }
  readonly workers: readonly WorkerInfo[]
  readonly cycle: {
    /** null until the first cycle starts. */
    readonly start: number | null
    readonly intervalMs: number | null
    readonly number: number
    readonly offsetMs: number
    readonly regionsDone: number
    readonly regionsTotal: number
    readonly keysProvided: number
    readonly nextRegion: string | null
    readonly nextAt: number | null
  }
  readonly provides: {
    readonly recordsSent: number
    readonly recordsFailed: number
    /** Records sent to the next closest live peer because a closer one failed. */
    readonly recordsReplaced?: number
    readonly keysProvided: number
    readonly keysPerMinute: number
    /** What keysPerMinute averages over (absent from coordinators before it was added: 10 min). */
    readonly rateWindowMs?: number
    readonly lookups: number
    readonly regionsOk: number
    readonly regionsFailed: number
    readonly regionsEmpty: number
    /** Regions explored and sent again soon because many of their peers failed. */
    readonly regionsReswept?: number
    readonly lastRegionAt: number | null
  }
  readonly network: {
    readonly size: number
    readonly prefixLength: number
    readonly measuredAt: number | null
    readonly reachablePeers: number
    readonly unreachablePeers: number
    readonly connectivity: 'online' | 'offline' | 'unknown'
  }
  readonly leader: { readonly id: string; readonly since?: number } | null
}

export interface CidStatus {
  readonly cid: string
  readonly stored: boolean
  readonly once?: boolean
  readonly kadKey?: string
  readonly region?: string | null
  readonly lastProvide?: number | null
  readonly outcome?: 'ok' | 'failed' | 'empty' | null
  readonly nextSlot?: number | null
  readonly expectedHolders?: number
}
