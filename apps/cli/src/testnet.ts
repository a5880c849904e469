import { Command, Option } from 'commander'
import { positiveIntArg } from './client/options.ts'
import { startTestnet } from '@sweep/testnet'


/** `sweep testnet --nodes N --info FILE`: real kad-dht servers on 127.0.0.1 until SIGINT/SIGTERM. */
export function testnetCommand(): Command {
  return new Command('testnet')
    .description('run N real, unmodified @libp2p/kad-dht servers on 127.0.0.1 and write their bootstrap addresses as JSON')
    .addOption(new Option('--nodes <n>', 'number of DHT servers').argParser(positiveIntArg).default(100).env('SWEEP_TESTNET_NODES'))
    .addOption(new Option('--info <file>', 'where to write the info JSON (bootstrap multiaddrs, nodes, routing tables)').env('SWEEP_TESTNET_INFO').makeOptionMandatory())
    .addOption(new Option('--processes <n>', 'child processes to spread the servers over (default: about 50 servers each)').argParser(positiveIntArg))
    .addOption(new Option('--protocol <id>', 'DHT protocol').default('/ipfs/kad/1.0.0').env('SWEEP_DHT_PROTOCOL'))
    .action(async (opts: { nodes: number; info: string; processes?: number; protocol: string }) => {
      const started = Date.now()
      const testnet = await startTestnet({ nodes: opts.nodes, processes: opts.processes, protocol: opts.protocol, log: (m) => console.error(m) })
      await testnet.writeInfo(opts.info)
      console.error(`testnet: ${opts.nodes} servers up in ${((Date.now() - started) / 1000).toFixed(1)} s; info in ${opts.info}; Ctrl-C stops them`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      console.error('testnet: stopping')
      await testnet.stop()
    })
}
