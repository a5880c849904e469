import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { helmBinary } from './lib/helm-binary.ts'

const chart = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'helm', 'sweep')
const release = 'rel'
const namespace = 'sweep-test'
const execFileAsync = promisify(execFile)

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: string | number } }
interface Container {
  name: string
  args?: string[]
  env?: EnvVar[]
  ports?: { name: string; containerPort: number }[]
  livenessProbe?: Probe
  readinessProbe?: Probe
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean }
}
interface Volume { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }
interface PodSpec {
  containers: Container[]
  volumes?: Volume[]
  terminationGracePeriodSeconds?: number
  securityContext?: { runAsNonRoot?: boolean }
}
interface Workload { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }
interface Manifest {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  spec?: Record<string, unknown>
  data?: Record<string, string>
}
interface Trigger { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }
interface ScaledObjectSpec { scaleTargetRef: { kind: string; name: string }; minReplicaCount: number; maxReplicaCount: number; triggers: Trigger[] }

let helmPath = ''
let workDir = ''
let helmEnv: NodeJS.ProcessEnv = {}

beforeAll(async () => {
  helmPath = await helmBinary()
  workDir = await mkdtemp(join(tmpdir(), 'sweep-helm-'))
  // keep helm's cache, config and plugin state out of the user's home
  helmEnv = {
    ...process.env,
    HELM_CACHE_HOME: join(workDir, 'cache'),
    HELM_CONFIG_HOME: join(workDir, 'config'),
    HELM_DATA_HOME: join(workDir, 'data')
  }
})

afterAll(async () => {
  if (workDir !== '') await rm(workDir, { recursive: true, force: true })
})

interface HelmRun { ok: boolean; stdout: string; stderr: string }

async function helm(args: string[]): Promise<HelmRun> {
  try {
    const { stdout, stderr } = await execFileAsync(helmPath, args, { env: helmEnv, maxBuffer: 16 << 20, timeout: 20_000 })
    return { ok: true, stdout, stderr }
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string }
    if (typeof failed.code !== 'number') throw err
    return { ok: false, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}

let valuesFiles = 0
async function valuesFile(values: object): Promise<string> {
  const file = join(workDir, `values-${valuesFiles++}.json`) // JSON is YAML, so helm reads it as is
  await writeFile(file, JSON.stringify(values))
  return file
}

async function template(values: object = {}): Promise<HelmRun> {
  return helm(['template', release, chart, '--namespace', namespace, '--values', await valuesFile(values)])
}

async function render(values: object = {}): Promise<Manifest[]> {
  const run = await template(values)
  expect(run.stderr, 'helm template wrote errors').not.toMatch(/error/i)
  expect(run.ok).toBe(true)
  const docs = parseAllDocuments(run.stdout)
  for (const doc of docs) expect(doc.errors).toEqual([])
  return docs.map((doc) => doc.toJS() as Manifest | null).filter((m): m is Manifest => m !== null)
}

function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name)
  if (found === undefined) {
    throw new Error(`no ${kind} ${name}; rendered: ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`)
  }
  return found
}

const kinds = (manifests: Manifest[]): string[] => manifests.map((m) => m.kind)
const workload = (m: Manifest): Workload => m.spec as unknown as Workload
const container = (m: Manifest): Container => workload(m).template.spec.containers[0]
const env = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name)
const coordinator = (ms: Manifest[]): Manifest => find(ms, 'Deployment', `${release}-sweep-coordinator`)
const worker = (ms: Manifest[]): Manifest => find(ms, 'Deployment', `${release}-sweep-worker`)
const scaledObject = (ms: Manifest[]): ScaledObjectSpec => find(ms, 'ScaledObject', `${release}-sweep-worker`).spec as unknown as ScaledObjectSpec
const redisArgs = (ms: Manifest[]): string[] => container(find(ms, 'StatefulSet', `${release}-sweep-redis`)).args ?? []
const secretValue = (secret: Manifest, key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8')

/** Whole seconds in a duration as sweep writes them (60s, 2m, 1m30s). */
function seconds(duration: string): number {
  const perUnit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
  let ms = 0
  for (const [, n, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * perUnit[unit]
  return Math.ceil(ms / 1000)
}

function portNumber(c: Container, port: string | number | undefined): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort
}

describe('helm lint', () => {
  it('passes, also with --strict', async () => {
    for (const flags of [[], ['--strict']]) {
      const run = await helm(['lint', chart, ...flags])
      expect(run.stdout + run.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/)
      expect(run.ok).toBe(true)
    }
  })

  it('fails on values the schema rejects', async () => {
    const run = await helm(['lint', chart, '--strict', '--set', 'worker.concurrency=0'])
    expect(run.ok).toBe(false)
    expect(run.stdout + run.stderr).toMatch(/worker\/concurrency/)
  })
})

describe('helm template with default values', () => {
  let ms: Manifest[] = []
  beforeAll(async () => { ms = await render() })

  it('runs two coordinators probed on /healthz and /readyz at the metrics port', () => {
    const c = container(coordinator(ms))
    expect(workload(coordinator(ms)).replicas).toBe(2)
    expect(c.args).toEqual(['coordinator'])
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz')
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz')
    expect(portNumber(c, c.livenessProbe?.httpGet?.port)).toBe(9464)
    expect(portNumber(c, c.readinessProbe?.httpGet?.port)).toBe(9464)
    expect(env(c, 'SWEEP_METRICS_LISTEN')?.value).toBe('0.0.0.0:9464')
    expect(env(c, 'SWEEP_API_LISTEN')?.value).toBe('0.0.0.0:8080')
    expect(env(c, 'SWEEP_INTERVAL')?.value).toBe('22h')
  })

  it('gives the coordinators an API token from a Secret that holds it', () => {
    const ref = env(container(coordinator(ms)), 'SWEEP_API_TOKEN')?.valueFrom?.secretKeyRef
    expect(ref).toBeDefined()
    expect(secretValue(find(ms, 'Secret', ref?.name ?? ''), ref?.key ?? '')).toMatch(/^[A-Za-z0-9]{40}$/)
  })

  it('keeps an API client on one coordinator, where its chunked reset upload lives', () => {
    const service = find(ms, 'Service', `${release}-sweep-api`).spec as { sessionAffinity?: string; selector: Record<string, string> }
    expect(service.sessionAffinity).toBe('ClientIP')
    expect(workload(coordinator(ms)).template.metadata.labels).toMatchObject(service.selector)
  })

  it('keeps one coordinator up through disruptions', () => {
    const pdb = find(ms, 'PodDisruptionBudget', `${release}-sweep-coordinator`).spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } }
    expect(pdb.minAvailable).toBe(1)
    expect(workload(coordinator(ms)).template.metadata.labels).toMatchObject(pdb.selector.matchLabels)
  })

  it('configures workers from env and mounts the identity Secret read-only', () => {
    const w = workload(worker(ms))
    const c = container(worker(ms))
    expect(w.replicas).toBe(2)
    expect(c.args).toEqual(['worker'])
    expect(env(c, 'SWEEP_BOOTSTRAP')?.value?.split(',')).toHaveLength(5)
    const identity = env(c, 'SWEEP_IDENTITY')?.value ?? ''
    expect(identity).toBe('/var/run/sweep/identity.key')
    const mount = c.volumeMounts?.find((v) => identity.startsWith(`${v.mountPath}/`))
    expect(mount?.readOnly).toBe(true)
    const volume = w.template.spec.volumes?.find((v) => v.name === mount?.name)
    expect(volume?.secret?.secretName).toBe('sweep-identity')
    expect(volume?.secret?.items).toEqual([{ key: 'identity.key', path: 'identity.key' }])
    expect(portNumber(c, c.readinessProbe?.httpGet?.port)).toBe(9465)
  })

  it('points both processes at the bundled Redis Service', () => {
    const url = new URL(env(container(worker(ms)), 'SWEEP_REDIS_URL')?.value ?? '')
    expect(env(container(coordinator(ms)), 'SWEEP_REDIS_URL')?.value).toBe(url.href.replace(/\/$/, ''))
    const service = find(ms, 'Service', url.hostname).spec as { ports: { port: number }[]; selector: Record<string, string> }
    expect(service.ports.map((p) => p.port)).toContain(Number(url.port))
    expect(workload(find(ms, 'StatefulSet', url.hostname)).template.metadata.labels).toMatchObject(service.selector)
  })

  it('gives workers longer to terminate than their shutdown grace', () => {
    const grace = seconds(env(container(worker(ms)), 'SWEEP_SHUTDOWN_GRACE')?.value ?? '')
    expect(grace).toBe(60)
    expect(workload(worker(ms)).template.spec.terminationGracePeriodSeconds).toBeGreaterThan(grace)
  })

  it('runs every pod as non-root on a read-only root filesystem', () => {
    for (const m of [coordinator(ms), worker(ms), find(ms, 'StatefulSet', `${release}-sweep-redis`)]) {
      expect(workload(m).template.spec.securityContext?.runAsNonRoot, m.metadata.name).toBe(true)
      expect(container(m).securityContext?.readOnlyRootFilesystem, m.metadata.name).toBe(true)
    }
  })

  it('renders no optional extras', () => {
    for (const kind of ['ScaledObject', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'NetworkPolicy']) expect(kinds(ms)).not.toContain(kind)
  })
})

describe('helm template with value sets', () => {
  it('bundles Redis with AOF, listpack-sized hashes and noeviction', async () => {
    const args = redisArgs(await render({ redis: { enabled: true, maxmemory: '3gb' } }))
    const flag = (name: string): string | undefined => args[args.indexOf(`--${name}`) + 1]
    expect(args[0]).toBe('redis-server')
    expect(flag('appendonly')).toBe('yes')
    expect(flag('hash-max-listpack-entries')).toBe('1024')
    expect(flag('maxmemory-policy')).toBe('noeviction')
    expect(flag('maxmemory')).toBe('3gb')
    expect(flag('dir')).toBe('/data')
  })

  it('uses an external Redis through a Secret, without the StatefulSet', async () => {
    const url = 'redis://:hunter2@redis.example:6380/2'
    const ms = await render({ redis: { enabled: false, url } })
    expect(kinds(ms)).not.toContain('StatefulSet')
    for (const m of [coordinator(ms), worker(ms)]) {
      const ref = env(container(m), 'SWEEP_REDIS_URL')?.valueFrom?.secretKeyRef
      expect(secretValue(find(ms, 'Secret', ref?.name ?? ''), ref?.key ?? '')).toBe(url)
    }
    const existing = await render({ redis: { enabled: false, existingSecret: 'my-redis', existingSecretKey: 'url' } })
    expect(env(container(worker(existing)), 'SWEEP_REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'my-redis', key: 'url' })
  })

  it('scales workers with KEDA on queued jobs from Prometheus', async () => {
    const ms = await render({ autoscaling: { keda: { enabled: true, minReplicas: 2, maxReplicas: 30, prometheus: { threshold: 6 } } } })
    const spec = scaledObject(ms)
    expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: worker(ms).metadata.name })
    expect([spec.minReplicaCount, spec.maxReplicaCount]).toEqual([2, 30])
    expect(spec.triggers).toHaveLength(1)
    expect(spec.triggers[0].type).toBe('prometheus')
    expect(spec.triggers[0].metadata.query).toContain('sweep_queue_jobs{state=~"waiting|prioritized"')
    expect(spec.triggers[0].metadata.threshold).toBe('6')
    // KEDA owns the replica count, so the Deployment must not fight it
    expect(workload(worker(ms)).replicas).toBeUndefined()
    expect(kinds(ms)).not.toContain('HorizontalPodAutoscaler')
  })

  it('scales workers with KEDA on the Redis waiting list', async () => {
    const ms = await render({
      keyNamespace: 'prod',
      autoscaling: { keda: { enabled: true, trigger: 'redis', redis: { listLength: 5, passwordSecret: { name: 'redis-pw' } } } }
    })
    const [trigger] = scaledObject(ms).triggers
    expect(trigger.type).toBe('redis')
    expect(trigger.metadata).toMatchObject({ listName: '{prod}:regions:wait', listLength: '5' })
    expect(trigger.metadata.address).toBe(`${release}-sweep-redis.${namespace}.svc.cluster.local:6379`)
    const auth = find(ms, 'TriggerAuthentication', trigger.authenticationRef?.name ?? '').spec as { secretTargetRef: object[] }
    expect(auth.secretTargetRef).toEqual([{ parameter: 'password', name: 'redis-pw', key: 'password' }])
    expect(env(container(worker(ms)), 'SWEEP_NAMESPACE')?.value).toBe('prod')
  })

  it('scales workers on CPU with a plain HPA', async () => {
    const ms = await render({ autoscaling: { hpa: { enabled: true, maxReplicas: 7 } } })
    const hpa = find(ms, 'HorizontalPodAutoscaler', `${release}-sweep-worker`).spec as { scaleTargetRef: { name: string }; maxReplicas: number; metrics: { resource: { name: string } }[] }
    expect(hpa.scaleTargetRef.name).toBe(worker(ms).metadata.name)
    expect(hpa.maxReplicas).toBe(7)
    expect(hpa.metrics[0].resource.name).toBe('cpu')
    expect(kinds(ms)).not.toContain('ScaledObject')
  })

  it('stores an inline identity, announces addresses and derives the termination grace', async () => {
    const keyBase64 = Buffer.from('not really a key').toString('base64')
    const announce = ['/ip4/203.0.113.7/tcp/4001', '/ip4/203.0.113.7/udp/4001/quic-v1']
    const ms = await render({ worker: { identity: { keyBase64 }, announce, shutdownGrace: '1m30s', concurrency: 8 } })
    const c = container(worker(ms))
    const volume = workload(worker(ms)).template.spec.volumes?.find((v) => v.name === 'identity')
    expect(find(ms, 'Secret', volume?.secret?.secretName ?? '').data?.['identity.key']).toBe(keyBase64)
    expect(env(c, 'SWEEP_ANNOUNCE')?.value).toBe(announce.join(','))
    expect(env(c, 'SWEEP_CONCURRENCY')?.value).toBe('8')
    expect(workload(worker(ms)).template.spec.terminationGracePeriodSeconds).toBe(90 + 15)
  })

  it('passes the OTLP endpoint and enables ServiceMonitor and NetworkPolicy', async () => {
    const ms = await render({
      otel: { endpoint: 'http://otel:4318' },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } } },
      networkPolicy: { enabled: true }
    })
    for (const m of [coordinator(ms), worker(ms)]) expect(env(container(m), 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe('http://otel:4318')
    const monitor = find(ms, 'ServiceMonitor', `${release}-sweep`)
    expect(monitor.metadata.labels?.release).toBe('prom')
    // the ServiceMonitor scrapes the port named "metrics" of both the coordinator and the worker Service
    for (const name of [`${release}-sweep-api`, `${release}-sweep-worker`]) {
      const ports = (find(ms, 'Service', name).spec as { ports: { name: string }[] }).ports
      expect(ports.map((p) => p.name)).toContain('metrics')
    }
    expect(ms.filter((m) => m.kind === 'NetworkPolicy').map((m) => m.metadata.name).sort())
      .toEqual([`${release}-sweep-coordinator`, `${release}-sweep-redis`, `${release}-sweep-worker`])
  })
})

describe('helm template refuses incomplete values', () => {
  const cases: [string, object, RegExp][] = [
    ['no bootstrap peers', { worker: { bootstrap: [] } }, /worker\.bootstrap is required/],
    ['no Redis at all', { redis: { enabled: false } }, /no Redis configured: set redis\.url or redis\.existingSecret/],
    ['bundled and external Redis', { redis: { url: 'redis://r:6379' } }, /redis\.enabled=true .* are both set/],
    ['no identity', { worker: { identity: { existingSecret: '' } } }, /worker\.identity: set existingSecret/],
    ['a grace longer than the termination period', { worker: { shutdownGrace: '90s', terminationGracePeriodSeconds: 60 } }, /terminationGracePeriodSeconds \(60\) must exceed worker\.shutdownGrace/],
    ['KEDA and HPA together', { autoscaling: { keda: { enabled: true }, hpa: { enabled: true } } }, /enable only one/],
    ['a KEDA redis trigger without an address', { redis: { enabled: false, existingSecret: 's' }, autoscaling: { keda: { enabled: true, trigger: 'redis' } } }, /autoscaling\.keda\.redis\.address/],
    ['a misspelled key', { worker: { bootsrap: ['/ip4/1.2.3.4/tcp/1'] } }, /additional properties 'bootsrap'/]
  ]
  it.each(cases)('fails with %s', async (_name, values, message) => {
    const run = await template(values)
    expect(run.ok).toBe(false)
    expect(run.stderr).toMatch(message)
  })
})
