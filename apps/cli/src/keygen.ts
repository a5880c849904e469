import { Command, Option } from 'commander'
import { generateIdentity } from '@sweep/dht'

/** `sweep keygen --out FILE`: the provider identity every worker runs with. */
export function keygenCommand(): Command {
  return new Command('keygen')
    .description('write a new libp2p private key (the provider identity every worker sends records as)')
    .addOption(new Option('--out <file>', 'where to write the key (protobuf-encoded, mode 0600)').env('SWEEP_IDENTITY').makeOptionMandatory())
    .option('--force', 'overwrite an existing key file', false)
    .action(async (opts: { out: string; force: boolean }) => {
      const key = await generateIdentity(opts.out, { force: opts.force })
      const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
      console.log(`wrote ${opts.out}: provider peer ID ${peerIdFromPrivateKey(key).toString()}`)
    })
}
