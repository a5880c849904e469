import { Command, Option } from 'commander'
import { defaultCoordinatorConfig, startCoordinator } from '@sweep/coordinator'
import { parseBytes, parseDuration, parseListen, processLogger, untilSignal } from './options.ts'

interface CoordinatorFlags {
  redis: string
  api: { host: string; port: number }
  metrics: { host: string; port: number }
  interval: number
  namespace: string
  apiToken?: string
  maxBody: number
  id?: string
}

/** `sweep coordinator`: schedule owner (while it holds the lease) and HTTP API. */
export function coordinatorCommand(): Command {
  const d = defaultCoordinatorConfig
  return new Command('coordinator')
    .description('run a coordinator: serves the HTTP API and, while it holds the leader lease, schedules region jobs (run two for a hot standby)')
    .addOption(new Option('--redis <url>', 'Redis URL').env('SWEEP_REDIS_URL').makeOptionMandatory())
    .addOption(new Option('--api <host:port>', 'where the HTTP API listens').env('SWEEP_API_LISTEN').argParser(parseListen).default(d.api, '127.0.0.1:8080'))
    .addOption(new Option('--metrics <host:port>', 'where /metrics, /healthz and /readyz listen').env('SWEEP_METRICS_LISTEN').argParser(parseListen).default(d.metrics, '127.0.0.1:9464'))
    .addOption(new Option('--interval <duration>', 'reprovide interval: every region is swept once per interval').env('SWEEP_INTERVAL').argParser(parseDuration).default(d.intervalMs, '22h'))
    .addOption(new Option('--namespace <name>', 'Redis key namespace, to run several clusters on one Redis').env('SWEEP_NAMESPACE').default(d.namespace))
    .addOption(new Option('--api-token <token>', 'require Authorization: Bearer <token> on the API').env('SWEEP_API_TOKEN'))
    .addOption(new Option('--max-body <size>', 'largest request body the API reads').env('SWEEP_MAX_BODY').argParser(parseBytes).default(d.maxBodyBytes, '64MiB'))
    .addOption(new Option('--id <name>', 'instance name in logs and the lease (default: host, pid and a random suffix)').env('SWEEP_ID'))
    .action(async (flags: CoordinatorFlags) => {
      const log = processLogger('coordinator')
      const coordinator = await startCoordinator({
        ...d, redisUrl: flags.redis, api: flags.api, metrics: flags.metrics, intervalMs: flags.interval,
        namespace: flags.namespace, apiToken: flags.apiToken, maxBodyBytes: flags.maxBody, id: flags.id
      }, log)
      const signal = await untilSignal()
      log.info({ signal }, 'stopping')
      await coordinator.stop()
      process.exit(0)
    })
}
