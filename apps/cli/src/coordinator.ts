import { Command, Option } from 'commander'
import { durationArg, ratioArg } from './client/options.ts'
import { bucketBitsArg, keystoreShardsArg, parseBytes, parseListen, processLogger, untilSignal } from './options.ts'

interface CoordinatorFlags {
  redis: string
  api?: { host: string; port: number }
  metrics?: { host: string; port: number }
  interval?: number
  namespace?: string
  apiToken?: string
  insecureNoToken?: boolean
  maxBody?: number
  id?: string
  resweepDelay?: number
  jobTimeout?: number
  resweepFailureShare?: number
  bucketBits?: number
  keystoreShards?: number
}

/** `sweep coordinator`: schedule owner (while it holds the lease) and HTTP API. */
export function coordinatorCommand(): Command {
  return new Command('coordinator')
    .description('run a coordinator: serves the HTTP API and, while it holds the leader lease, schedules region jobs (run two for a hot standby)')
    .addOption(new Option('--redis <url>', 'Redis URL: redis://HOST:PORT, rediss://… for TLS, or redis+cluster://HOST:PORT,HOST:PORT for a Redis Cluster').env('SWEEP_REDIS_URL').makeOptionMandatory())
    .addOption(new Option('--api <host:port>', 'where the HTTP API listens (default 127.0.0.1:8080)').env('SWEEP_API_LISTEN').argParser(parseListen))
    .addOption(new Option('--metrics <host:port>', 'where /metrics, /healthz and /readyz listen (default 127.0.0.1:9464)').env('SWEEP_METRICS_LISTEN').argParser(parseListen))
    .addOption(new Option('--interval <duration>', 'reprovide interval: every region is swept once per interval (default 22h)').env('SWEEP_INTERVAL').argParser(durationArg))
    .addOption(new Option('--namespace <name>', 'Redis key namespace, to run several clusters on one Redis (default sweep)').env('SWEEP_NAMESPACE'))
    .addOption(new Option('--api-token <token>', 'require Authorization: Bearer <token> on the API (required when --api is not a loopback address)').env('SWEEP_API_TOKEN'))
    .option('--insecure-no-token', 'serve the API on a non-loopback address without a token (only behind a trusted network; no environment variable, so it is never on by accident)')
    .addOption(new Option('--max-body <size>', 'largest request body the API reads (default 64MiB)').env('SWEEP_MAX_BODY').argParser(parseBytes))
    .addOption(new Option('--resweep-delay <duration>', 'a region where many peers failed is explored and sent again this long after (default 1m)').env('SWEEP_RESWEEP_DELAY').argParser(durationArg))
    .addOption(new Option('--resweep-failure-share <fraction>', 'share of a region\'s peers that must fail for it to be swept again soon; 1 turns re-sweeps off (default 0.1)').env('SWEEP_RESWEEP_FAILURE_SHARE').argParser(ratioArg))
    .addOption(new Option('--job-timeout <duration>', 'how long a worker may run one region job; past it the job fails and the region is retried (default 20m)').env('SWEEP_JOB_TIMEOUT').argParser(durationArg))
    .addOption(new Option('--bucket-bits <n>', 'keystore buckets (2^n) of a namespace created now; an existing keystore with fewer is re-bucketed to n online. 16 keeps ~41 B per CID up to ~50M CIDs, and the leader adds bits by itself as the set grows; see README "Sizing" (default 16)').env('SWEEP_BUCKET_BITS').argParser(bucketBitsArg))
    .addOption(new Option('--keystore-shards <n>', 'shards of a keystore created now, a power of two: each is its own Redis Cluster hash slot, so more shards spread the keys over more masters (default 1 on one Redis, 64 on a cluster)').env('SWEEP_KEYSTORE_SHARDS').argParser(keystoreShardsArg))
    .addOption(new Option('--id <name>', 'instance name in logs and the lease (default: host, pid and a random suffix)').env('SWEEP_ID'))
    .action(async (flags: CoordinatorFlags) => {
      // loaded here, not at the top, so client subcommands start without BullMQ and OpenTelemetry
      const { defaultCoordinatorConfig: d, startCoordinator } = await import('@sweep/coordinator')
      const log = processLogger('coordinator')
      const coordinator = await startCoordinator({
        ...d, redisUrl: flags.redis, api: flags.api ?? d.api, metrics: flags.metrics ?? d.metrics,
        intervalMs: flags.interval ?? d.intervalMs, namespace: flags.namespace ?? d.namespace, apiToken: flags.apiToken, insecureNoToken: flags.insecureNoToken === true,
        maxBodyBytes: flags.maxBody ?? d.maxBodyBytes, id: flags.id,
        jobTimeoutMs: flags.jobTimeout ?? d.jobTimeoutMs, bucketBits: flags.bucketBits, keystoreShards: flags.keystoreShards,
        resweep: { ...d.resweep, delayMs: flags.resweepDelay ?? d.resweep.delayMs, failureShare: flags.resweepFailureShare ?? d.resweep.failureShare }
      }, log)
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await coordinator.stop()
      process.exit(0)
    })
}
