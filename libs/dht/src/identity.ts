import { chmod, readFile, writeFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { decodePrivateKey, IDENTITY_FORMATS } from './identity-formats.ts'

export interface GenerateIdentityOptions {
  /** Replace an existing file. Off by default: losing the provider key orphans every record it signed for. */
  readonly force?: boolean
}

/**
 * Creates the provider identity: every worker runs with this key, because servers
 * keep a record only when its provider ID is the authenticated sender.
 */
export async function generateIdentity(file: string, options: GenerateIdentityOptions = {}): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  const bytes = privateKeyToProtobuf(key)
  try {
    // 'wx' makes the existence check and the create one atomic step
    await writeFile(file, bytes, { mode: 0o600, flag: options.force === true ? 'w' : 'wx' })
    // an overwritten file keeps its old mode, which may be wider than 0600
    if (options.force === true) await chmod(file, 0o600)
  } catch (err) {
    if (errorCode(err) === 'EEXIST') {
      throw new Error(`identity file ${file} already exists; refusing to overwrite it without force`, { cause: err })
    }
    throw new Error(`cannot write identity file ${file}: ${errorMessage(err)}`, { cause: err })
  }
  return key
}

/** Reads a key written by generateIdentity, or any of the formats in identity-formats.ts (Kubo's among them). */
export async function loadIdentity(file: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new Error(`identity file ${file} does not exist (create one with \`sweep keygen --out ${file}\`)`, { cause: err })
    throw new Error(`cannot read identity file ${file}: ${errorMessage(err)}`, { cause: err })
  }
  try {
    return decodePrivateKey(bytes)
  } catch (err) {
    throw new Error(`identity file ${file} is not a libp2p private key in any format sweep reads (${IDENTITY_FORMATS}): ${errorMessage(err)}`, { cause: err })
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
