import { Command, Option } from 'commander'
import { durationArg, listArg, positiveIntArg } from './client/options.ts'
import { parseListen, processLogger, untilSignal } from './options.ts'

interface WorkerFlags {
  redis: string
  bootstrap?: string[]
  protocol: string
  identity: string
  announce?: string[]
  listen?: string[]
  privateAddrs?: 'auto' | 'allow' | 'deny'
  concurrency?: number
  metrics?: { host: string; port: number }
  namespace?: string
  shutdownGrace?: number
  lockDuration?: number
  id?: string
}

/** `sweep worker`: a stateless BullMQ consumer with a libp2p host that explores and provides regions. */
export function workerCommand(): Command {
  return new Command('worker')
    .description('run a worker: takes region jobs from Redis, explores each region on the DHT and sends its provider records')
    .addOption(new Option('--redis <url>', 'Redis URL: redis://HOST:PORT, rediss://… for TLS, or redis+cluster://HOST:PORT,HOST:PORT for a Redis Cluster').env('SWEEP_REDIS_URL').makeOptionMandatory())
    .addOption(new Option('--bootstrap <multiaddr...>', 'DHT bootstrap peers, with /p2p/<id> (comma or space separated; default: Amino\'s public bootstrap peers, as Kubo)').env('SWEEP_BOOTSTRAP').argParser(listArg))
    .addOption(new Option('--protocol <id>', 'the DHT\'s kad protocol id').env('SWEEP_DHT_PROTOCOL').default('/ipfs/kad/1.0.0'))
    .addOption(new Option('--identity <file>', 'the provider\'s private key: every worker sends records as this peer. sweep keygen\'s file, ipfs key export\'s (protobuf or PEM PKCS#8), a Kubo config file, or its base64 Identity.PrivKey').env('SWEEP_IDENTITY').makeOptionMandatory())
    .addOption(new Option('--announce <multiaddr...>', 'addresses of the content-serving peer to put in provider records (default: this host\'s)').env('SWEEP_ANNOUNCE').argParser(listArg))
    .addOption(new Option('--listen <multiaddr...>', 'libp2p listen addresses').env('SWEEP_LISTEN').argParser(listArg))
    .addOption(new Option('--private-addrs <policy>', 'dial private, loopback and cluster-internal addresses that DHT peers hand out: auto (only when every bootstrap peer is private, as on a local testnet), allow, or deny').env('SWEEP_PRIVATE_ADDRS').choices(['auto', 'allow', 'deny']).default('auto'))
    .addOption(new Option('--concurrency <n>', 'region jobs run in parallel (default 4)').env('SWEEP_CONCURRENCY').argParser(positiveIntArg))
    .addOption(new Option('--metrics <host:port>', 'where /metrics, /healthz and /readyz listen (default 127.0.0.1:9465)').env('SWEEP_METRICS_LISTEN').argParser(parseListen))
    .addOption(new Option('--namespace <name>', 'Redis key namespace (default sweep)').env('SWEEP_NAMESPACE'))
    .addOption(new Option('--shutdown-grace <duration>', 'on SIGTERM, how long active jobs may run before they are handed back (default 60s)').env('SWEEP_SHUTDOWN_GRACE').argParser(durationArg))
    .addOption(new Option('--lock-duration <duration>', 'job lock: a crashed worker\'s job is re-run by another after this (default 30s)').env('SWEEP_LOCK_DURATION').argParser(durationArg))
    .addOption(new Option('--id <name>', 'worker name in logs and stats (default: host, pid and a random suffix)').env('SWEEP_ID'))
    .action(async (flags: WorkerFlags) => {
      // loaded here, not at the top, so client subcommands start without libp2p
      const { defaultWorkerConfig: d, startWorker } = await import('@sweep/worker')
      const { AMINO_BOOTSTRAP } = await import('@sweep/dht')
      const log = processLogger('worker')
      if (flags.bootstrap === undefined || flags.bootstrap.length === 0) log.info({ bootstrap: AMINO_BOOTSTRAP }, 'no --bootstrap: joining Amino through its public bootstrap peers')
      const worker = await startWorker({
        ...d, redisUrl: flags.redis, bootstrap: flags.bootstrap?.length ? flags.bootstrap : AMINO_BOOTSTRAP, protocol: flags.protocol, identityFile: flags.identity, announce: flags.announce,
        listen: flags.listen ?? d.listen, privateAddrs: flags.privateAddrs, concurrency: flags.concurrency ?? d.concurrency, metrics: flags.metrics ?? d.metrics,
        namespace: flags.namespace ?? d.namespace, shutdownGraceMs: flags.shutdownGrace ?? d.shutdownGraceMs,
        lockDurationMs: flags.lockDuration ?? d.lockDurationMs, id: flags.id
      }, log)
      const signal = await untilSignal()
      log.info({ signal }, 'stopping: finishing or handing back active jobs')
      await worker.stop()
      process.exit(0)
    })
}
