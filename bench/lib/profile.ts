import { Session } from 'node:inspector/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
}

export interface Hotspot {
  readonly where: string
  readonly share: number
}

/** Where a file's CPU time goes, by package (or by project folder): coarse enough to read, fine enough to act on. */
function owner(url: string): string {
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const project = url.match(/\/(libs|apps|bench)\/([^/]+)\//)
  if (project) return `${project[1]}/${project[2]}`
  if (url.startsWith('node:')) return url
  return url === '' ? '(native, gc, idle)' : 'node internals'
}

/** Runs fn under the V8 CPU profiler (what `node --cpu-prof` records) and ranks self time by owner. */
export async function profiled<T>(fn: () => Promise<T>): Promise<{ result: T; hotspots: Hotspot[] }> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  try {
    const result = await fn()
    const { profile } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } }
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    const time = new Map<string, number>()
    let total = 0
    profile.samples.forEach((id, i) => {
      const node = byId.get(id)
      if (!node || node.callFrame.functionName === '(idle)') return
      const where = owner(node.callFrame.url)
      time.set(where, (time.get(where) ?? 0) + profile.timeDeltas[i])
      total += profile.timeDeltas[i]
    })
    const hotspots = [...time].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([where, t]) => ({ where, share: t / total }))
    return { result, hotspots }
  } finally {
    session.disconnect()
  }
}
