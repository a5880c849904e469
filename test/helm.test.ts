import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chart as chartDir, container, env, find, HelmChart, kinds, type Manifest, secretValue, workload } from './lib/helm-chart.ts'

const chart = new HelmChart('rel', 'sweep-test')
const { release, namespace } = chart

interface Trigger { type: string; name?: string; metadata: Record<string, string>; authenticationRef?: { name: string } }
interface ScaledObjectSpec {
  scaleTargetRef: { kind: string; name: string }
  minReplicaCount: number
  maxReplicaCount: number
  triggers: Trigger[]
  advanced?: { scalingModifiers?: { formula: string; target: string; metricType: string } }
}
interface ServiceSpec { type?: string; clusterIP?: string; ports: { name: string; port: number }[]; selector: Record<string, string>; sessionAffinity?: string }
interface PeerSelector { podSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] }; namespaceSelector?: object }
interface NetworkPolicySpec { podSelector: { matchLabels: Record<string, string> }; ingress: { from?: PeerSelector[] }[] }

const coordinator = (ms: Manifest[]): Manifest => find(ms, 'Deployment', `${release}-sweep-coordinator`)
const worker = (ms: Manifest[]): Manifest => find(ms, 'Deployment', `${release}-sweep-worker`)
const redis = (ms: Manifest[]): Manifest => find(ms, 'StatefulSet', `${release}-sweep-redis`)
const service = (ms: Manifest[], name: string): ServiceSpec => find(ms, 'Service', `${release}-sweep-${name}`).spec as unknown as ServiceSpec
const scaledObject = (ms: Manifest[]): ScaledObjectSpec => find(ms, 'ScaledObject', `${release}-sweep-worker`).spec as unknown as ScaledObjectSpec
const podLabels = (m: Manifest): Record<string, string> => workload(m).template.metadata.labels
const flag = (args: string[], name: string): string | undefined => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined)

/** Whether a NetworkPolicy peer's podSelector matches pods with these labels */
function peerSelects(peer: PeerSelector, labels: Record<string, string>): boolean {
  if (peer.podSelector === undefined || peer.namespaceSelector !== undefined) return false
  const byLabel = Object.entries(peer.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
  const byExpression = (peer.podSelector.matchExpressions ?? []).every((e) => e.operator === 'In' && e.values.includes(labels[e.key]))
  return byLabel && byExpression
}

/** Whole seconds in a duration as sweep writes them (60s, 2m, 1m30s). */
function seconds(duration: string): number {
  const perUnit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
  let ms = 0
  for (const [, n, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) ms += Number(n) * perUnit[unit]
  return Math.ceil(ms / 1000)
}

beforeAll(async () => { await chart.start() })
afterAll(async () => { await chart.stop() })

describe('helm lint', () => {
  it('passes, also with --strict', async () => {
    for (const flags of [[], ['--strict']]) {
      const run = await chart.helm(['lint', chartDir, ...flags])
      expect(run.stdout + run.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/)
      expect(run.ok).toBe(true)
    }
  })
})

describe('helm template with default values', () => {
  let ms: Manifest[] = []
  beforeAll(async () => { ms = await chart.render() })

  it('runs two coordinators probed on /healthz and /readyz at the metrics port', () => {
    const c = container(coordinator(ms))
    expect(workload(coordinator(ms)).replicas).toBe(2)
    expect(c.args).toEqual(['coordinator'])
    expect([c.livenessProbe?.httpGet, c.readinessProbe?.httpGet]).toEqual([{ path: '/healthz', port: 'metrics' }, { path: '/readyz', port: 'metrics' }])
    expect(c.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(9464)
    expect(env(c, 'SWEEP_METRICS_LISTEN')?.value).toBe('0.0.0.0:9464')
    expect(env(c, 'SWEEP_API_LISTEN')?.value).toBe('0.0.0.0:8080')
    expect(env(c, 'SWEEP_INTERVAL')?.value).toBe('22h')
    expect(env(c, 'SWEEP_BUCKET_BITS')?.value).toBe('16')
  })

  it('passes the keystore bucket bits a large set needs', async () => {
    const large = await chart.render({ coordinator: { bucketBits: 17 } })
    expect(env(container(coordinator(large)), 'SWEEP_BUCKET_BITS')?.value).toBe('17')
  })

  it('passes --insecure-no-token only when asked, with no token', async () => {
    const open = await chart.render({ coordinator: { apiToken: { generate: false, insecureNoToken: true } } })
    expect(container(coordinator(open)).args).toEqual(['coordinator', '--insecure-no-token'])
    expect(env(container(coordinator(open)), 'SWEEP_API_TOKEN')).toBeUndefined()
  })

  it('gives the coordinators an API token from a Secret that holds it', () => {
    const ref = env(container(coordinator(ms)), 'SWEEP_API_TOKEN')?.valueFrom?.secretKeyRef
    expect(ref).toBeDefined()
    expect(secretValue(find(ms, 'Secret', ref?.name ?? ''), ref?.key ?? '')).toMatch(/^[A-Za-z0-9]{40}$/)
  })

  it('serves only the API on the API Service, with no client stickiness (uploads live in Redis), and metrics on their own ClusterIP Services', () => {
    const api = service(ms, 'api')
    expect(api.sessionAffinity).toBeUndefined()
    expect(api.ports.map((p) => p.name)).toEqual(['http-api'])
    expect(podLabels(coordinator(ms))).toMatchObject(api.selector)
    const metrics = service(ms, 'coordinator-metrics')
    expect(metrics.type).toBe('ClusterIP')
    expect(metrics.ports).toEqual([{ name: 'metrics', port: 9464, targetPort: 'metrics' }])
    expect(podLabels(coordinator(ms))).toMatchObject(metrics.selector)
    const workerMetrics = service(ms, 'worker-metrics')
    expect([workerMetrics.type, workerMetrics.clusterIP]).toEqual(['ClusterIP', 'None'])
    expect(workerMetrics.ports.map((p) => p.port)).toEqual([9465])
    expect(podLabels(worker(ms))).toMatchObject(workerMetrics.selector)
  })

  it('keeps one coordinator up and takes one worker at a time through disruptions', () => {
    const pdb = (name: string) => find(ms, 'PodDisruptionBudget', `${release}-sweep-${name}`).spec as { minAvailable?: number; maxUnavailable?: number; selector: { matchLabels: Record<string, string> } }
    expect(pdb('coordinator').minAvailable).toBe(1)
    expect(podLabels(coordinator(ms))).toMatchObject(pdb('coordinator').selector.matchLabels)
    expect(pdb('worker').maxUnavailable).toBe(1)
    expect(podLabels(worker(ms))).toMatchObject(pdb('worker').selector.matchLabels)
    expect(podLabels(coordinator(ms))).not.toMatchObject(pdb('worker').selector.matchLabels)
  })

  it('configures workers from env, mounts the identity read-only and waits for the DHT join before starting', () => {
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
    expect(c.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(9465)
    // the worker's /readyz turns ready only after its host joined and measured the network
    expect(c.startupProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' })
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' })
  })

  it('gives both processes the bundled Redis password from its Secret, never in plain text', () => {
    const password = secretValue(find(ms, 'Secret', `${release}-sweep`), 'redis-password')
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/)
    for (const m of [coordinator(ms), worker(ms), redis(ms)]) {
      expect(env(container(m), 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef, m.metadata.name).toEqual({ name: `${release}-sweep`, key: 'redis-password' })
    }
    for (const m of [coordinator(ms), worker(ms)]) {
      const names = container(m).env?.map((e) => e.name) ?? []
      // the kubelet expands $(REDIS_PASSWORD) only from entries listed before it
      expect(names.indexOf('REDIS_PASSWORD')).toBeLessThan(names.indexOf('SWEEP_REDIS_URL'))
      expect(env(container(m), 'SWEEP_REDIS_URL')?.value).toBe(`redis://:$(REDIS_PASSWORD)@${release}-sweep-redis:6379`)
    }
    const args = container(redis(ms)).args ?? []
    expect(flag(args, 'requirepass')).toBe('$(REDIS_PASSWORD)')
    expect(args).not.toContain('--protected-mode')
    expect(env(container(redis(ms)), 'REDISCLI_AUTH')?.valueFrom?.secretKeyRef?.key).toBe('redis-password')
    for (const m of ms.filter((m) => m.kind !== 'Secret')) expect(JSON.stringify(m), `${m.kind}/${m.metadata.name}`).not.toContain(password)
  })

  it('lets only the release\'s coordinators and workers into the bundled Redis', () => {
    const policies = ms.filter((m) => m.kind === 'NetworkPolicy')
    expect(policies.map((m) => m.metadata.name)).toEqual([`${release}-sweep-redis`])
    const spec = policies[0].spec as unknown as NetworkPolicySpec
    expect(podLabels(redis(ms))).toMatchObject(spec.podSelector.matchLabels)
    const peers = spec.ingress.flatMap((rule) => rule.from ?? [])
    expect(spec.ingress.every((rule) => (rule.from ?? []).length > 0)).toBe(true)
    const admitted = (labels: Record<string, string>) => peers.some((peer) => peerSelects(peer, labels))
    expect(admitted(podLabels(coordinator(ms)))).toBe(true)
    expect(admitted(podLabels(worker(ms)))).toBe(true)
    expect(peers.every((peer) => peer.namespaceSelector === undefined && peer.podSelector !== undefined)).toBe(true)
    expect(admitted({ ...podLabels(worker(ms)), 'app.kubernetes.io/instance': 'other-release' })).toBe(false)
    expect(admitted(podLabels(redis(ms)))).toBe(false)
  })

  it('runs Redis on AOF alone, pinned, with noeviction and a maxmemory below its memory limit', () => {
    const c = container(redis(ms))
    const args = c.args ?? []
    expect(args[0]).toBe('redis-server')
    expect(c.image).toMatch(/^redis:7\.4\.\d+$/)
    expect(flag(args, 'appendonly')).toBe('yes')
    expect(flag(args, 'save')).toBe('')
    expect(flag(args, 'hash-max-listpack-entries')).toBe('1024')
    expect(flag(args, 'maxmemory-policy')).toBe('noeviction')
    expect(c.resources?.limits?.memory).toBe('4Gi')
    expect(flag(args, 'maxmemory')).toBe(String(0.75 * 4 * 2 ** 30))
  })

  it('gives workers longer to terminate than their shutdown grace', () => {
    const grace = seconds(env(container(worker(ms)), 'SWEEP_SHUTDOWN_GRACE')?.value ?? '')
    expect(grace).toBe(60)
    expect(workload(worker(ms)).template.spec.terminationGracePeriodSeconds).toBeGreaterThan(grace)
  })

  it('runs every pod as non-root on a read-only root filesystem', () => {
    for (const m of [coordinator(ms), worker(ms), redis(ms)]) {
      expect(workload(m).template.spec.securityContext?.runAsNonRoot, m.metadata.name).toBe(true)
      expect(container(m).securityContext?.readOnlyRootFilesystem, m.metadata.name).toBe(true)
    }
  })

  it('renders no optional extras', () => {
    for (const kind of ['ScaledObject', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'TriggerAuthentication']) expect(kinds(ms)).not.toContain(kind)
  })
})

describe('helm template with value sets', () => {
  it('takes maxmemory as given, or as a share of the memory limit', async () => {
    expect(flag(container(redis(await chart.render({ redis: { maxmemory: '3gb' } }))).args ?? [], 'maxmemory')).toBe('3gb')
    const share = await chart.render({ redis: { maxmemoryPercent: 50, resources: { limits: { memory: '1500Mi' } } } })
    expect(flag(container(redis(share)).args ?? [], 'maxmemory')).toBe(String(750 * 2 ** 20))
  })

  it('reads the bundled Redis password from an existing Secret, or runs it without one', async () => {
    const existing = await chart.render({ redis: { auth: { existingSecret: 'redis-pw', existingSecretKey: 'pw' } } })
    for (const m of [coordinator(existing), worker(existing), redis(existing)]) {
      expect(env(container(m), 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'redis-pw', key: 'pw' })
    }
    expect(find(existing, 'Secret', `${release}-sweep`).data?.['redis-password']).toBeUndefined()
    const open = await chart.render({ redis: { auth: { enabled: false } } })
    expect(env(container(worker(open)), 'REDIS_PASSWORD')).toBeUndefined()
    expect(env(container(worker(open)), 'SWEEP_REDIS_URL')?.value).toBe(`redis://${release}-sweep-redis:6379`)
    expect(flag(container(redis(open)).args ?? [], 'protected-mode')).toBe('no')
  })

  it('uses an external Redis through a Secret, without the StatefulSet or its NetworkPolicy', async () => {
    const url = 'redis://:hunter2@redis.example:6380/2'
    const ms = await chart.render({ redis: { enabled: false, url } })
    expect(kinds(ms)).not.toContain('StatefulSet')
    expect(kinds(ms)).not.toContain('NetworkPolicy')
    for (const m of [coordinator(ms), worker(ms)]) {
      const ref = env(container(m), 'SWEEP_REDIS_URL')?.valueFrom?.secretKeyRef
      expect(secretValue(find(ms, 'Secret', ref?.name ?? ''), ref?.key ?? '')).toBe(url)
      expect(env(container(m), 'REDIS_PASSWORD')).toBeUndefined()
    }
    const existing = await chart.render({ redis: { enabled: false, existingSecret: 'my-redis', existingSecretKey: 'url' } })
    expect(env(container(worker(existing)), 'SWEEP_REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'my-redis', key: 'url' })
  })

  it('scales workers with KEDA on (active + queued) jobs from Prometheus, per worker.concurrency', async () => {
    const ms = await chart.render({ worker: { concurrency: 6 }, autoscaling: { keda: { enabled: true, minReplicas: 2, maxReplicas: 30 } } })
    const spec = scaledObject(ms)
    expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: worker(ms).metadata.name })
    expect([spec.minReplicaCount, spec.maxReplicaCount]).toEqual([2, 30])
    expect(spec.triggers).toHaveLength(1)
    expect(spec.triggers[0].type).toBe('prometheus')
    expect(spec.triggers[0].metadata.query).toBe(`sum(max by (state) (sweep_queue_jobs{state=~"active|waiting|prioritized",namespace="${namespace}"}))`)
    expect(spec.triggers[0].metadata.threshold).toBe('6')
    // KEDA owns the replica count, so the Deployment must not fight it
    expect(workload(worker(ms)).replicas).toBeUndefined()
    expect(kinds(ms)).not.toContain('HorizontalPodAutoscaler')
  })

  it('scales workers with KEDA on the Redis wait plus active lists, per worker.concurrency', async () => {
    const ms = await chart.render({ keyNamespace: 'prod', worker: { concurrency: 5 }, autoscaling: { keda: { enabled: true, trigger: 'redis' } } })
    const spec = scaledObject(ms)
    const lists = Object.fromEntries(spec.triggers.map((t) => [t.name, t.metadata.listName]))
    expect(lists).toEqual({ waiting: '{prod}:regions:wait', active: '{prod}:regions:active' })
    expect(spec.advanced?.scalingModifiers).toEqual({ formula: 'waiting + active', target: '5', activationTarget: '0', metricType: 'AverageValue' })
    for (const trigger of spec.triggers) {
      expect(trigger.type).toBe('redis')
      expect(trigger.metadata.address).toBe(`${release}-sweep-redis.${namespace}.svc.cluster.local:6379`)
      const auth = find(ms, 'TriggerAuthentication', trigger.authenticationRef?.name ?? '').spec as { secretTargetRef: object[] }
      expect(auth.secretTargetRef).toEqual([{ parameter: 'password', name: `${release}-sweep`, key: 'redis-password' }])
    }
    expect(env(container(worker(ms)), 'SWEEP_NAMESPACE')?.value).toBe('prod')
    // the KEDA operator dials Redis itself
    const peers = (find(ms, 'NetworkPolicy', `${release}-sweep-redis`).spec as unknown as NetworkPolicySpec).ingress.flatMap((r) => r.from ?? [])
    expect(peers).toContainEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } })
  })

  it('points the KEDA redis trigger at an external TLS Redis with its password Secret', async () => {
    const ms = await chart.render({
      redis: { enabled: false, url: 'rediss://:pw@redis.example:6380/3' },
      autoscaling: { keda: { enabled: true, trigger: 'redis', redis: { passwordSecret: { name: 'ext-pw' } } } }
    })
    for (const trigger of scaledObject(ms).triggers) {
      expect(trigger.metadata).toMatchObject({ address: 'redis.example:6380', databaseIndex: '3', enableTLS: 'true' })
      const auth = find(ms, 'TriggerAuthentication', trigger.authenticationRef?.name ?? '').spec as { secretTargetRef: object[] }
      expect(auth.secretTargetRef).toEqual([{ parameter: 'password', name: 'ext-pw', key: 'password' }])
    }
  })

  it('takes an external Redis Cluster: its URL to every process, KEDA\'s redis-cluster trigger, the keystore shards', async () => {
    const url = 'redis+cluster://:pw@redis-0.example:6379,redis-1.example:6379/?wait=1'
    const ms = await chart.render({
      redis: { enabled: false, url }, coordinator: { keystoreShards: 128 },
      autoscaling: { keda: { enabled: true, trigger: 'redis', redis: { passwordSecret: { name: 'ext-pw' } } } }
    })
    for (const m of [coordinator(ms), worker(ms)]) {
      const ref = env(container(m), 'SWEEP_REDIS_URL')?.valueFrom?.secretKeyRef
      expect(secretValue(find(ms, 'Secret', ref?.name ?? ''), ref?.key ?? '')).toBe(url)
    }
    expect(env(container(coordinator(ms)), 'SWEEP_KEYSTORE_SHARDS')?.value).toBe('128')
    expect(env(container(worker(ms)), 'SWEEP_KEYSTORE_SHARDS')).toBeUndefined()
    for (const trigger of scaledObject(ms).triggers) {
      expect(trigger.type).toBe('redis-cluster')
      expect(trigger.metadata).toMatchObject({ addresses: 'redis-0.example:6379,redis-1.example:6379', enableTLS: 'false' })
      expect(trigger.metadata.address).toBeUndefined()
    }
    const plain = await chart.render({})
    expect(env(container(coordinator(plain)), 'SWEEP_KEYSTORE_SHARDS')).toBeUndefined()
    await expect(chart.render({ coordinator: { keystoreShards: 3 } })).rejects.toThrow(/keystoreShards/)
  })

  it('scales workers on CPU with a plain HPA', async () => {
    const ms = await chart.render({ autoscaling: { hpa: { enabled: true, maxReplicas: 7 } } })
    const hpa = find(ms, 'HorizontalPodAutoscaler', `${release}-sweep-worker`).spec as { scaleTargetRef: { name: string }; maxReplicas: number; metrics: { resource: { name: string } }[] }
    expect(hpa.scaleTargetRef.name).toBe(worker(ms).metadata.name)
    expect(hpa.maxReplicas).toBe(7)
    expect(hpa.metrics[0].resource.name).toBe('cpu')
    expect(kinds(ms)).not.toContain('ScaledObject')
  })

  it('stores an inline identity, announces addresses and derives the termination grace', async () => {
    const keyBase64 = Buffer.from('not really a key').toString('base64')
    const announce = ['/ip4/203.0.113.7/tcp/4001', '/ip4/203.0.113.7/udp/4001/quic-v1']
    const ms = await chart.render({ worker: { identity: { keyBase64 }, announce, shutdownGrace: '1m30s', concurrency: 8 } })
    const c = container(worker(ms))
    const volume = workload(worker(ms)).template.spec.volumes?.find((v) => v.name === 'identity')
    expect(find(ms, 'Secret', volume?.secret?.secretName ?? '').data?.['identity.key']).toBe(keyBase64)
    expect(env(c, 'SWEEP_ANNOUNCE')?.value).toBe(announce.join(','))
    expect(env(c, 'SWEEP_CONCURRENCY')?.value).toBe('8')
    expect(workload(worker(ms)).template.spec.terminationGracePeriodSeconds).toBe(90 + 15)
  })

  it('scrapes the metrics Services, not the API Service, with a ServiceMonitor', async () => {
    const ms = await chart.render({
      otel: { endpoint: 'http://otel:4318' },
      coordinator: { service: { type: 'LoadBalancer' } },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } } },
      networkPolicy: { enabled: true }
    })
    for (const m of [coordinator(ms), worker(ms)]) expect(env(container(m), 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe('http://otel:4318')
    const monitor = find(ms, 'ServiceMonitor', `${release}-sweep`)
    expect(monitor.metadata.labels?.release).toBe('prom')
    const selector = (monitor.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels
    const scraped = ms.filter((m) => m.kind === 'Service' && Object.entries(selector).every(([k, v]) => m.metadata.labels?.[k] === v))
    expect(scraped.map((m) => m.metadata.name).sort()).toEqual([`${release}-sweep-coordinator-metrics`, `${release}-sweep-worker-metrics`])
    for (const m of scraped) expect((m.spec as unknown as ServiceSpec).type).toBe('ClusterIP')
    expect(service(ms, 'api').type).toBe('LoadBalancer')
    expect(service(ms, 'api').ports.map((p) => p.name)).toEqual(['http-api'])
    expect(ms.filter((m) => m.kind === 'NetworkPolicy').map((m) => m.metadata.name).sort())
      .toEqual([`${release}-sweep-coordinator`, `${release}-sweep-redis`, `${release}-sweep-worker`])
  })

  it('renders a numeric image tag as written', async () => {
    // the schema asks for a string; past it (--skip-schema-validation) the number still prints right
    const ms = await chart.render({ image: { tag: 2 } }, { flags: ['--skip-schema-validation'] })
    for (const m of [coordinator(ms), worker(ms)]) expect(container(m).image).toBe('sweep:2')
    expect(container(coordinator(await chart.render({ image: { tag: '1.2.0' } }))).image).toBe('sweep:1.2.0')
  })
})

describe('generated secrets under GitOps (rendered without cluster access)', () => {
  it('do not change the pod templates, so a re-render restarts nothing', async () => {
    const [first, second] = [await chart.render(), await chart.render()]
    const secret = (ms: Manifest[]) => find(ms, 'Secret', `${release}-sweep`)
    // offline, each render draws new values: the reason the README sends GitOps to existingSecret
    expect(secretValue(secret(first), 'api-token')).not.toBe(secretValue(secret(second), 'api-token'))
    for (const pick of [coordinator, worker, redis]) expect(workload(pick(second)).template).toEqual(workload(pick(first)).template)
  })

  it('restart pods when a given token or Redis URL changes', async () => {
    const annotation = (ms: Manifest[]) => workload(coordinator(ms)).template.metadata.annotations?.['checksum/config']
    const before = annotation(await chart.render({ coordinator: { apiToken: { value: 'a'.repeat(40) } } }))
    const after = annotation(await chart.render({ coordinator: { apiToken: { value: 'b'.repeat(40) } } }))
    expect(before).toMatch(/^[0-9a-f]{64}$/)
    expect(after).not.toBe(before)
  })
})
