import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { helmBinary } from './helm-binary.ts'

/** Runs the real helm binary on helm/sweep, with its state in a temporary directory. */

export const chart = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'helm', 'sweep')
const execFileAsync = promisify(execFile)

export interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
export interface Probe { httpGet?: { path: string; port: string | number } }
export interface Container {
  name: string
  image?: string
  args?: string[]
  env?: EnvVar[]
  ports?: { name: string; containerPort: number }[]
  livenessProbe?: Probe
  readinessProbe?: Probe
  startupProbe?: Probe & { periodSeconds?: number; failureThreshold?: number }
  resources?: { limits?: Record<string, string> }
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean }
}
export interface Volume { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }
export interface PodSpec {
  containers: Container[]
  volumes?: Volume[]
  terminationGracePeriodSeconds?: number
  securityContext?: { runAsNonRoot?: boolean }
}
export interface Workload {
  replicas?: number
  selector: { matchLabels: Record<string, string> }
  template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }
}
export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  spec?: Record<string, unknown>
  data?: Record<string, string>
}
export interface HelmRun { ok: boolean; stdout: string; stderr: string }

export class HelmChart {
  #helm = ''
  #workDir = ''
  #env: NodeJS.ProcessEnv = {}
  #valuesFiles = 0

  readonly release: string
  readonly namespace: string

  constructor(release = 'rel', namespace = 'sweep-test') {
    this.release = release
    this.namespace = namespace
  }

  async start(): Promise<void> {
    this.#helm = await helmBinary()
    this.#workDir = await mkdtemp(join(tmpdir(), 'sweep-helm-'))
    // keep helm's cache, config and plugin state out of the user's home
    this.#env = {
      ...process.env,
      HELM_CACHE_HOME: join(this.#workDir, 'cache'),
      HELM_CONFIG_HOME: join(this.#workDir, 'config'),
      HELM_DATA_HOME: join(this.#workDir, 'data')
    }
  }

  async stop(): Promise<void> {
    if (this.#workDir !== '') await rm(this.#workDir, { recursive: true, force: true })
  }

  async helm(args: string[]): Promise<HelmRun> {
    try {
      const { stdout, stderr } = await execFileAsync(this.#helm, args, { env: this.#env, maxBuffer: 16 << 20, timeout: 20_000 })
      return { ok: true, stdout, stderr }
    } catch (err) {
      const failed = err as { code?: unknown; stdout?: string; stderr?: string }
      if (typeof failed.code !== 'number') throw err
      return { ok: false, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
    }
  }

  /** A values file holding values (JSON is YAML, so helm reads it as is) */
  async valuesFile(values: object): Promise<string> {
    const file = join(this.#workDir, `values-${this.#valuesFiles++}.json`)
    await writeFile(file, JSON.stringify(values))
    return file
  }

  async template(values: object = {}, options: { release?: string; flags?: string[] } = {}): Promise<HelmRun> {
    const release = options.release ?? this.release
    return this.helm(['template', release, chart, '--namespace', this.namespace, '--values', await this.valuesFile(values), ...(options.flags ?? [])])
  }

  async lint(values: object = {}): Promise<HelmRun> {
    return this.helm(['lint', chart, '--strict', '--namespace', this.namespace, '--values', await this.valuesFile(values)])
  }

  /** The rendered objects; throws with helm's message when it refuses the values. */
  async render(values: object = {}, options: { release?: string; flags?: string[] } = {}): Promise<Manifest[]> {
    const run = await this.template(values, options)
    if (!run.ok || /error/i.test(run.stderr)) throw new Error(`helm template failed: ${run.stderr}`)
    return parseManifests(run.stdout)
  }
}

export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text)
  for (const doc of docs) if (doc.errors.length > 0) throw new Error(`unparsable output: ${doc.errors.join('; ')}`)
  return docs.map((doc) => doc.toJS() as Manifest | null).filter((m): m is Manifest => m !== null)
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name)
  if (found === undefined) {
    throw new Error(`no ${kind} ${name}; rendered: ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`)
  }
  return found
}

export const kinds = (manifests: Manifest[]): string[] => manifests.map((m) => m.kind)
export const workload = (m: Manifest): Workload => m.spec as unknown as Workload
export const container = (m: Manifest): Container => workload(m).template.spec.containers[0]
export const env = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name)
export const secretValue = (secret: Manifest, key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8')
