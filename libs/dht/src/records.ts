import { multiaddr } from '@multiformats/multiaddr'
import { Message, MessageType } from './message.generated.js'
import type { PeerId } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export { Message, MessageType }

/** What pbStream needs from a codec. */
export interface WireCodec {
  encode(message: Message): Uint8Array
  decode(bytes: Uint8Array | Uint8ArrayList): Message
}

/**
 * Builds the messages the sender puts on the wire, and counts the bytes the codec
 * encodes, so the stats see the real payload without encoding anything twice.
 */
export class RecordEncoder {
  bytesEncoded = 0
  private readonly provider: { id: Uint8Array<ArrayBuffer>, multiaddrs: Array<Uint8Array<ArrayBuffer>>, connection?: undefined }
  readonly codec: WireCodec

  /** announce: our addresses without /p2p; js servers drop records that carry none. */
  constructor(self: PeerId, announce: readonly string[]) {
    if (announce.length === 0) throw new Error('cannot build provider records without announce addresses: servers drop them')
    this.provider = {
      id: arrayBacked(self.toMultihash().bytes),
      multiaddrs: announce.map((a) => arrayBacked(multiaddr(a).bytes))
    }
    this.codec = {
      encode: (message) => {
        const bytes = Message.encode(message)
        this.bytesEncoded += bytes.byteLength
        return bytes
      },
      decode: (bytes) => Message.decode(bytes)
    }
  }

  addProvider(multihash: Uint8Array): Message {
    return { type: MessageType.ADD_PROVIDER, key: arrayBacked(multihash), closer: [], providers: [this.provider] }
  }

  /** Servers answer PING in order on the same stream, so its echo proves every earlier message was handled. */
  ping(): Message {
    return { type: MessageType.PING, closer: [], providers: [] }
  }
}

// the generated types want ArrayBuffer-backed arrays; callers may hand in views of anything
function arrayBacked(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes)
}
