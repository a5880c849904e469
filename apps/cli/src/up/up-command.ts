/** `sweep up`: run a whole cluster locally until Ctrl-C. */
import { Command, Option } from 'commander'
import { readFile } from 'node:fs/promises'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ApiClient } from '../client/api-client.ts'
import { durationArg, listArg, positiveIntArg } from '../client/options.ts'
import { withTestnetOptions, type TestnetFlags } from '../testnet-options.ts'
import { dashboardUrl, startLocalCluster, DEFAULT_ANNOUNCE } from './cluster.ts'
import { serveControl } from './control.ts'
import { LiveView } from './live-view.ts'
import { describeExit, type SweepProcess } from './processes.ts'

interface UpFlags extends TestnetFlags {
  readonly testnet?: number
  readonly workers: number
  readonly concurrency: number
  readonly bootstrap?: string[]
  readonly announce?: string[]
  readonly interval: number
  readonly api: string
  readonly redis?: string
  readonly dir: string
}

export function upCommand(): Command {
  return withTestnetOptions(new Command('up'))
    .description('run an all-in-one local cluster (Redis, coordinator, workers, optionally a test DHT) until Ctrl-C')
    .addOption(new Option('--testnet <n>', 'start N real kad-dht servers on 127.0.0.1 and provide to them').argParser(positiveIntArg))
    .addOption(new Option('--workers <n>', 'worker processes').argParser(positiveIntArg).default(2))
    .addOption(new Option('--concurrency <n>', 'region jobs per worker (1 here: a local testnet shares the cores, and parallel regions starve its servers into failed sends)').argParser(positiveIntArg).default(1))
    .addOption(new Option('--bootstrap <multiaddr...>', 'DHT bootstrap peers with /p2p/ (required without --testnet)').env('SWEEP_BOOTSTRAP').argParser(listArg))
    .addOption(new Option('--announce <multiaddr...>', `addresses of the content-serving peer, put in provider records (default: ${DEFAULT_ANNOUNCE.join(' ')})`).argParser(listArg))
    .addOption(new Option('--interval <duration>', 'reprovide interval').argParser(durationArg).default(22 * 3_600_000, '22h'))
    .addOption(new Option('--api <host:port>', 'where the coordinator serves the HTTP API').default('127.0.0.1:8080'))
    .addOption(new Option('--redis <url>', 'Redis URL (redis://, rediss:// or redis+cluster://HOST:PORT,HOST:PORT); "private" starts our own in <dir>/redis (default: 127.0.0.1:6379 if it answers, else our own)').env('SWEEP_REDIS_URL'))
    .addOption(new Option('--dir <path>', 'state directory: identity key, logs, our redis data').env('SWEEP_DIR').default('./.sweep'))
    .action(async (flags: UpFlags) => {
      const started = Date.now()
      const cluster = await startLocalCluster({
        dir: flags.dir, redis: flags.redis, testnet: flags.testnet, testnetFlags: flags, bootstrap: flags.bootstrap, announce: flags.announce,
        workers: flags.workers, concurrency: flags.concurrency, interval: `${flags.interval}ms`, api: flags.api,
        log: (m) => console.error(m)
      })
      const peerId = peerIdFromPrivateKey(privateKeyFromProtobuf(await readFile(cluster.identityFile))).toString()
      const tokenFlag = cluster.apiTokenGenerated && cluster.apiToken !== undefined ? ` --token ${cluster.apiToken}` : ''
      const tokenLine = cluster.apiToken === undefined ? 'none'
        : cluster.apiTokenGenerated ? `${cluster.apiToken}   (generated; export SWEEP_API_TOKEN=${cluster.apiToken} for the sweep commands)`
          : 'from SWEEP_API_TOKEN'
      console.error([
        `sweep up: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  API        ${cluster.apiUrl}`,
        `  dashboard  ${dashboardUrl(cluster.apiUrl, cluster.apiToken)}`,
        `  token      ${tokenLine}`,
        `  Redis      ${cluster.redisUrl}`,
        `  provider   ${peerId} (${cluster.identityFile})`,
        `  bootstrap  ${cluster.bootstrap.length} peers${cluster.testnet === undefined ? '' : ` (testnet of ${flags.testnet})`}`,
        `  metrics    ${metricsLine(cluster.processes)}`,
        `  logs       ${cluster.logDir}`,
        `try: sweep provide cids.txt --api ${cluster.apiUrl}${tokenFlag}   ·   sweep stats --api ${cluster.apiUrl}${tokenFlag}   ·   Ctrl-C stops everything`
      ].join('\n'))
      const view = new LiveView({ client: new ApiClient({ url: cluster.apiUrl, token: cluster.apiToken }) })
      view.start()
      // a worker that dies is reported and the rest carry on; losing the coordinator ends the cluster
      const coordinator = cluster.processes.find((p) => p.name === 'coordinator')!
      let stopping = false
      const retired = new Set<string>()
      const watch = (p: SweepProcess) => void p.exited.then((outcome) => { if (!stopping && !retired.has(p.name)) view.log(`warning: ${describeExit(p, outcome)}`) })
      for (const p of cluster.processes) {
        if (p !== coordinator) watch(p)
      }
      // `sweep scale N --dir <dir>` changes the worker count while this runs
      const control = await serveControl(flags.dir, async (count) => {
        const { started, stopping: leaving } = await cluster.scaleWorkers(count)
        for (const name of leaving) retired.add(name)
        for (const p of started) watch(p)
        view.log(`scaled to ${cluster.workerCount} workers${started.length > 0 ? `; started ${metricsLine(started)}` : ''}${leaving.length > 0 ? `; stopping ${leaving.join(', ')}` : ''}`)
        return { workers: cluster.workerCount, started: started.map((p) => p.name), stopping: leaving }
      })
      const reason = await new Promise<{ signal: string } | { crashed: string }>((resolve) => {
        process.once('SIGINT', () => resolve({ signal: 'SIGINT' }))
        process.once('SIGTERM', () => resolve({ signal: 'SIGTERM' }))
        // a closed terminal must not orphan the workers, testnet and redis
        process.once('SIGHUP', () => resolve({ signal: 'SIGHUP' }))
        void coordinator.exited.then((outcome) => resolve({ crashed: describeExit(coordinator, outcome) }))
      })
      stopping = true
      await control.close()
      view.stop()
      console.error('sweep up: stopping workers, coordinator' + (cluster.testnet === undefined ? '' : ', testnet') + ' and our redis (if we started one)…')
      await cluster.stop()
      if ('crashed' in reason) throw new Error(reason.crashed)
      console.error('sweep up: stopped')
      process.exit(0)
    })
}

/** "coordinator http://…/metrics · worker-1 http://…/metrics", each process's /metrics as its log gave it. */
function metricsLine(processes: readonly SweepProcess[]): string {
  return processes.map((p) => `${p.name} ${p.metricsUrl() ?? '(not up yet)'}`).join(' · ')
}
