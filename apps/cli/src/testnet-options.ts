/**
 * The testnet flags that `sweep testnet`, `sweep up --testnet` and the demo
 * share: which kad-dht implementation the servers run, and the faults Amino
 * has (silent peers, answer latency).
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { Testnet, TestnetImpl } from '@sweep/testnet'
import { ratioArg } from './client/options.ts'

export interface TestnetFlags {
  readonly impl: TestnetImpl
  readonly unreachable: number
  readonly latency: number
  readonly jitter: number
}

export function implArg(value: string): TestnetImpl {
  if (value !== 'js' && value !== 'go' && value !== 'mixed') throw new InvalidArgumentError('expected js, go or mixed')
  return value
}

export function millisArg(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected milliseconds ≥ 0')
  return n
}

export function withTestnetOptions(command: Command): Command {
  return command
    .addOption(new Option('--impl <impl>', 'DHT servers: js (@libp2p/kad-dht), go (go-libp2p-kad-dht) or mixed (half each); mixed falls back to js without a Go toolchain')
      .argParser(implArg).default('mixed').env('SWEEP_TESTNET_IMPL'))
    .addOption(new Option('--unreachable <fraction>', 'share of servers that become tarpits after wiring: they accept TCP and never answer')
      .argParser(ratioArg).default(0).env('SWEEP_TESTNET_UNREACHABLE'))
    .addOption(new Option('--latency <ms>', 'every server delays each kad answer this long').argParser(millisArg).default(0).env('SWEEP_TESTNET_LATENCY'))
    .addOption(new Option('--jitter <ms>', 'uniform ± jitter on --latency').argParser(millisArg).default(0).env('SWEEP_TESTNET_JITTER'))
}

/**
 * The implementation to run: mixed without a Go toolchain falls back to js
 * with one line, since the demo must run anywhere Node does; an explicit go
 * can't, and says why.
 */
export async function resolveImpl(impl: TestnetImpl, log: (msg: string) => void): Promise<TestnetImpl> {
  if (impl === 'js') return 'js'
  const { gonetBinary } = await import('@sweep/testnet')
  const built = await gonetBinary(log)
  if (built.path != null) return impl
  if (impl === 'mixed') {
    log(`testnet: ${built.reason}; running js servers only`)
    return 'js'
  }
  throw new Error(`--impl go: ${built.reason}`)
}

/** Applies --unreachable and --latency to a freshly wired testnet. */
export async function applyFaults(testnet: Testnet, flags: Omit<TestnetFlags, 'impl'>, log: (msg: string) => void): Promise<void> {
  if (flags.unreachable > 0) {
    // bootstrap peers stay up: a network whose entry points are dead can't be joined at all
    const victims = testnet.pickLive(flags.unreachable, { exclude: testnet.bootstrapIds })
    await testnet.makeUnreachable(victims)
    log(`testnet: ${victims.length} servers are now tarpits (accept TCP, never answer)`)
  }
  if (flags.latency > 0) {
    await testnet.setLatency(flags.latency, flags.jitter)
    log(`testnet: every answer delayed ${flags.latency} ± ${flags.jitter} ms`)
  }
}
