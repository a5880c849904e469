import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { container, HelmChart, type Manifest, workload } from './lib/helm-chart.ts'
import { dnsLabel, schemaErrors } from './lib/helm-models.ts'

const chart = new HelmChart('rel', 'sweep-test')

beforeAll(async () => { await chart.start() })
afterAll(async () => { await chart.stop() })

const externalTls = { enabled: false, url: 'rediss://:s3cret@redis.example:6380/1' }

/** The value sets CI renders: each must render, and every object must pass its API schema. */
const valueSets: [string, object][] = [
  ['fixed workers (defaults)', {}],
  ['KEDA on Prometheus', { autoscaling: { keda: { enabled: true, minReplicas: 0, maxReplicas: 40 } } }],
  ['KEDA on the bundled Redis', { autoscaling: { keda: { enabled: true, trigger: 'redis', redis: { activationListLength: 1 } } } }],
  ['KEDA on an external Redis', { redis: externalTls, autoscaling: { keda: { enabled: true, trigger: 'redis', redis: { passwordSecret: { name: 'pw' } } } } }],
  ['HPA on CPU', { autoscaling: { hpa: { enabled: true, minReplicas: 3, maxReplicas: 12 } } }],
  ['external Redis with TLS and a password', { redis: externalTls }],
  ['external Redis from an existing Secret', { redis: { enabled: false, existingSecret: 'redis', existingSecretKey: 'url' } }],
  ['NetworkPolicies', { networkPolicy: { enabled: true, apiFrom: [{ podSelector: { matchLabels: { role: 'client' } } }] }, redis: { networkPolicy: { extraFrom: [{ namespaceSelector: {} }] } } }],
  ['Grafana dashboard and alerts', { grafana: { dashboard: { enabled: true, folder: 'IPFS' } }, prometheusRule: { enabled: true, labels: { release: 'prom' } } }],
  ['ServiceMonitor', { metrics: { serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '5s', labels: { release: 'prom' } } } }],
  ['existing Secrets for token and Redis password', { coordinator: { apiToken: { existingSecret: 'api' } }, redis: { auth: { existingSecret: 'redis-pw' } } }],
  ['everything on', {
    image: { repository: 'registry.example/sweep', tag: '1.0.0' },
    worker: { identity: { keyBase64: 'AAAA' }, announce: ['/ip4/203.0.113.7/tcp/4001'], concurrency: 8 },
    coordinator: { service: { type: 'LoadBalancer' }, apiToken: { value: 'x'.repeat(40) } },
    autoscaling: { keda: { enabled: true, trigger: 'redis' } },
    metrics: { serviceMonitor: { enabled: true } },
    grafana: { dashboard: { enabled: true } },
    prometheusRule: { enabled: true },
    networkPolicy: { enabled: true },
    otel: { endpoint: 'http://otel:4318' }
  }]
]

describe('every value set CI renders', () => {
  it.each(valueSets)('%s: passes lint and renders objects valid for their API', async (_name, values) => {
    const lint = await chart.lint(values)
    expect(lint.stdout + lint.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/)
    const ms = await chart.render(values)
    expect(ms.length).toBeGreaterThan(8)
    expect(schemaErrors(ms)).toEqual([])
  })

  it('the model check catches an invalid object', () => {
    const broken: Manifest = { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'x' }, spec: { selector: {}, endpoints: [{ port: 'metrics', interval: '30x' }] } }
    expect(schemaErrors([broken])).toEqual([expect.stringContaining('interval')])
    expect(schemaErrors([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }])).toEqual(['v1/Pod x: no model for this kind'])
  })
})

describe('names', () => {
  // helm itself refuses release names over 53 characters, so 53 is the longest to try
  const longRelease = 'a-release-name-of-fifty-three-characters-long-abcdefg'
  it('helm refuses a 60-character release name itself', async () => {
    const run = await chart.template({}, { release: `${longRelease}-1234567` })
    expect(run.ok).toBe(false)
    expect(run.stderr).toMatch(/must not be longer than 53/)
  })

  it.each([
    ['a 53-character release name', longRelease, {}],
    ['a 70-character fullnameOverride', 'rel', { fullnameOverride: 'f'.repeat(70) }],
    ['a long release with a name override', longRelease, { nameOverride: 'sweep-provider-cluster' }]
  ])('stay valid DNS labels of at most 63 characters with %s', async (_name, release, values) => {
    expect(longRelease).toHaveLength(53)
    const ms = await chart.render({ ...values, autoscaling: { keda: { enabled: true, trigger: 'redis' } }, metrics: { serviceMonitor: { enabled: true } }, networkPolicy: { enabled: true }, worker: { identity: { keyBase64: 'AAAA' } } }, { release })
    for (const m of ms) expect(m.metadata.name, `${m.kind} ${m.metadata.name}`).toMatch(dnsLabel)
    for (const m of ms) expect(m.metadata.name.length, `${m.kind} ${m.metadata.name}`).toBeLessThanOrEqual(63)
    expect(Math.max(...ms.map((m) => m.metadata.name.length))).toBeGreaterThan(55)
    // the StatefulSet's pod (name-0) and its controller-revision-hash label (name-<10 chars>) fit too
    const statefulSet = ms.find((m) => m.kind === 'StatefulSet')
    expect(`${statefulSet?.metadata.name}-0123456789`.length).toBeLessThanOrEqual(63)
    expect(schemaErrors(ms)).toEqual([])
  })
})

/** Values the chart must refuse, and the words that say why. */
const refused: [string, object, RegExp][] = [
  ['a numeric image tag', { image: { tag: 2 } }, /\/image\/tag.*want string/],
  ['a misspelled top-level key', { autoscalling: { keda: { enabled: true } } }, /additional properties 'autoscalling'/],
  ['a misspelled nested key', { worker: { bootsrap: ['/ip4/1.2.3.4/tcp/1'] } }, /additional properties 'bootsrap'/],
  ['KEDA minReplicas above maxReplicas', { autoscaling: { keda: { enabled: true, minReplicas: 9, maxReplicas: 3 } } }, /autoscaling\.keda\.minReplicas \(9\) must not exceed autoscaling\.keda\.maxReplicas \(3\)/],
  ['HPA minReplicas above maxReplicas', { autoscaling: { hpa: { enabled: true, minReplicas: 9, maxReplicas: 3 } } }, /autoscaling\.hpa\.minReplicas \(9\) must not exceed autoscaling\.hpa\.maxReplicas \(3\)/],
  ['a ServiceMonitor interval without a unit', { metrics: { serviceMonitor: { interval: '30' } } }, /\/metrics\/serviceMonitor\/interval/],
  ['a ServiceMonitor interval of two units', { metrics: { serviceMonitor: { interval: '1m30s' } } }, /\/metrics\/serviceMonitor\/interval/],
  ['a bad scrape timeout', { metrics: { serviceMonitor: { scrapeTimeout: 'soon' } } }, /\/metrics\/serviceMonitor\/scrapeTimeout/],
  ['KEDA and HPA together', { autoscaling: { keda: { enabled: true }, hpa: { enabled: true } } }, /\/autoscaling\/hpa\/enabled.*must be false/],
  ['no bootstrap peers', { worker: { bootstrap: [] } }, /\/worker\/bootstrap/],
  ['no Redis at all', { redis: { enabled: false } }, /\/redis\/(url|existingSecret)/],
  ['bundled and external Redis', { redis: { url: 'redis://r:6379' } }, /\/redis\/url/],
  ['no identity', { worker: { identity: { existingSecret: '' } } }, /\/worker\/identity/],
  ['a grace longer than the termination period', { worker: { shutdownGrace: '90s', terminationGracePeriodSeconds: 60 } }, /terminationGracePeriodSeconds \(60\) must exceed worker\.shutdownGrace/],
  ['a KEDA redis trigger without an address', { redis: { enabled: false, existingSecret: 's' }, autoscaling: { keda: { enabled: true, trigger: 'redis' } } }, /\/autoscaling\/keda\/redis\/address/],
  ['an unknown KEDA trigger', { autoscaling: { keda: { enabled: true, trigger: 'cpu' } } }, /\/autoscaling\/keda\/trigger/],
  ['a bad memory limit for Redis', { redis: { resources: { limits: { memory: 'lots' } } } }, /redis\.resources\.limits\.memory: 'lots' is not a memory quantity/],
  ['keystore bucket bits past 24', { coordinator: { bucketBits: 25 } }, /\/coordinator\/bucketBits/],
  ['a zero worker PDB', { worker: { pdb: { maxUnavailable: 0 } } }, /\/worker\/pdb\/maxUnavailable/],
  ['an API without any token', { coordinator: { apiToken: { generate: false } } }, /coordinator\.apiToken: no token .*apiToken\.insecureNoToken: true/]
]

describe('refused values', () => {
  it.each(refused)('helm lint and helm template refuse %s', async (_name, values, message) => {
    const lint = await chart.lint(values)
    expect(lint.ok).toBe(false)
    expect(lint.stdout + lint.stderr).toMatch(message)
    const run = await chart.template(values)
    expect(run.ok).toBe(false)
    expect(run.stderr).toMatch(message)
  })

  // helm lint keeps a default that a null removes, so only the render can see these
  it.each([
    ['no memory limit and no maxmemory', { redis: { resources: { limits: { memory: null } } } }, /redis\.maxmemory is empty and redis\.resources\.limits\.memory is not set/],
    ['no bootstrap key', { worker: { bootstrap: null } }, /worker\.bootstrap is required/]
  ])('helm template refuses %s', async (_name, values, message) => {
    const run = await chart.template(values)
    expect(run.ok).toBe(false)
    expect(run.stderr).toMatch(message)
  })

  it('a refusal names the value, not only a template line', async () => {
    const run = await chart.template({ autoscaling: { hpa: { enabled: true, minReplicas: 4, maxReplicas: 2 } } })
    expect(run.stderr.split('\n')[0]).toMatch(/^Error: execution error at \(sweep\/templates\/validate\.yaml:\d+:\d+\): autoscaling\.hpa\.minReplicas/)
  })
})

describe('workloads', () => {
  it('keep one selector per component, matched by their pod labels', async () => {
    const ms = await chart.render({ autoscaling: { hpa: { enabled: true } } })
    const workloads = ms.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')
    expect(workloads).toHaveLength(3)
    for (const m of workloads) expect(workload(m).template.metadata.labels).toMatchObject(workload(m).selector.matchLabels)
    const components = new Set(workloads.map((m) => workload(m).selector.matchLabels['app.kubernetes.io/component']))
    expect(components).toEqual(new Set(['coordinator', 'worker', 'redis']))
    for (const m of workloads) expect(container(m).image, m.metadata.name).not.toMatch(/%!/)
  })
})
