/**
 * How busy the whole machine was over a window, from /proc/stat sampled in the
 * background: on a 2-core box that every process shares, a run that pins both
 * cores can't go faster by adding workers, whatever the workers do.
 */
import { readFileSync } from 'node:fs'

interface Sample { at: number; busy: number; total: number }

/** The aggregate `cpu` line of /proc/stat: busy and total jiffies over all cores. */
function readStat(): Omit<Sample, 'at'> {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const busy = user + nice + system + irq + softirq + steal
  return { busy, total: busy + idle + iowait }
}

export interface Utilisation {
  /** Share of all cores' time spent busy, 0..1. */
  share: number
  /** Busy CPU time of the whole machine in ms (jiffies are 10 ms). */
  busyMs: number
}

export class MachineCpu {
  private readonly samples: Sample[] = []
  private readonly timer: NodeJS.Timeout

  constructor(everyMs = 500) {
    this.sample()
    this.timer = setInterval(() => this.sample(), everyMs)
    this.timer.unref()
  }

  private sample(): void {
    this.samples.push({ at: performance.now(), ...readStat() })
    if (this.samples.length > 20_000) this.samples.splice(0, 10_000)
  }

  /** Utilisation between two performance.now() instants, from the samples nearest to them. */
  between(from: number, to: number): Utilisation {
    this.sample()
    const nearest = (t: number) => this.samples.reduce((best, s) => (Math.abs(s.at - t) < Math.abs(best.at - t) ? s : best))
    const a = nearest(from)
    const b = nearest(to)
    const total = b.total - a.total
    return { share: total > 0 ? (b.busy - a.busy) / total : 0, busyMs: (b.busy - a.busy) * 10 }
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
