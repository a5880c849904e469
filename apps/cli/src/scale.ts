/** `sweep scale N`: change the worker count of a running `sweep up`. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { requestScale } from './up/control.ts'

export function scaleCommand(): Command {
  return new Command('scale')
    .description('change how many workers a running `sweep up` runs; removed workers finish or hand back their jobs first')
    .argument('<workers>', 'worker count (0 or more)', (text: string) => {
      const n = Number(text)
      if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer ≥ 0')
      return n
    })
    .addOption(new Option('--dir <path>', 'the state directory of the sweep up to change').env('SWEEP_DIR').default('./.sweep'))
    .action(async (workers: number, flags: { dir: string }) => {
      const answer = await requestScale(flags.dir, workers)
      const parts = [`${answer.workers} workers`]
      if (answer.started.length > 0) parts.push(`started ${answer.started.join(', ')}`)
      if (answer.stopping.length > 0) parts.push(`stopping ${answer.stopping.join(', ')} (finishing or handing back their jobs)`)
      console.log(`sweep scale: ${parts.join('; ')}`)
    })
}
