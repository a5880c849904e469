/**
 * The key files a provider may already have, so sweep can send records as
 * the peer that serves the content (a Kubo node, say) without converting
 * its key by hand:
 * - libp2p's protobuf bytes: `sweep keygen`, and `ipfs key export`'s default;
 * - that protobuf in base64: Kubo's config `Identity.PrivKey`;
 * - a Kubo config file (JSON) itself, read for `Identity.PrivKey`;
 * - PEM PKCS#8: `ipfs key export --format=pem-pkcs8-cleartext` (Ed25519, RSA).
 */
import { createPrivateKey } from 'node:crypto'
import { privateKeyFromProtobuf, privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FORMATS = 'libp2p protobuf (sweep keygen, ipfs key export), base64 protobuf (Kubo Identity.PrivKey), ' +
  'a Kubo config file, or PEM PKCS#8 (ipfs key export --format=pem-pkcs8-cleartext)'

const BASE64_TEXT = /^[A-Za-z0-9+/=\s]+$/

export function decodePrivateKey(bytes: Uint8Array): PrivateKey {
  const text = Buffer.from(bytes).toString('utf8').trim()
  if (text.startsWith('{')) return fromKuboConfig(text)
  if (text.startsWith('-----BEGIN')) return fromPem(text)
  if (text.length > 0 && BASE64_TEXT.test(text)) {
    try {
      return privateKeyFromProtobuf(Buffer.from(text, 'base64'))
    } catch {
      // not base64 protobuf after all: raw bytes may still happen to be printable
    }
  }
  return privateKeyFromProtobuf(bytes)
}

function fromKuboConfig(text: string): PrivateKey {
  let config: { Identity?: { PrivKey?: unknown } }
  try {
    config = JSON.parse(text) as typeof config
  } catch (err) {
    throw new Error(`it looks like JSON but does not parse: ${(err as Error).message}`, { cause: err })
  }
  const encoded = config.Identity?.PrivKey
  if (typeof encoded !== 'string') throw new Error('it is JSON without a string Identity.PrivKey (is it a Kubo config?)')
  return privateKeyFromProtobuf(Buffer.from(encoded, 'base64'))
}

function fromPem(text: string): PrivateKey {
  const key = createPrivateKey(text)
  if (key.asymmetricKeyType === 'ed25519') {
    const jwk = key.export({ format: 'jwk' })
    // libp2p's raw Ed25519 private key is the 32-byte seed followed by the public key
    return privateKeyFromRaw(Buffer.concat([Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url')]))
  }
  if (key.asymmetricKeyType === 'rsa') return privateKeyFromRaw(key.export({ type: 'pkcs1', format: 'der' }))
  throw new Error(`PEM keys of type ${key.asymmetricKeyType} are not supported (Ed25519 and RSA are)`)
}
