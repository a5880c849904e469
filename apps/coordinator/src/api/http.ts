import type { IncomingMessage, ServerResponse } from 'node:http'

/** An error that becomes an HTTP status and a JSON `{error}` body. */
export class HttpError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** Answers [status, JSON body], or undefined when it wrote the response itself. */
export type RouteHandler = (req: IncomingMessage, url: URL, params: string[], res: ServerResponse) => Promise<[number, unknown] | undefined>

/** Method, path pattern (its groups become the handler's params), handler. */
export type Route = [method: string, pattern: RegExp, handler: RouteHandler]

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `request body exceeds the ${maxBytes}-byte limit; split the input into smaller requests (the sweep CLI does this)`)
}

/**
 * The request body as a stream, cut off with 413 past maxBytes. A declared length over the
 * limit is refused before anything is read, so nothing of it is stored.
 */
export async function * limitedBody(req: IncomingMessage, maxBytes: number): AsyncGenerator<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes)
  let received = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length
    if (received > maxBytes) throw tooLarge(maxBytes)
    yield chunk
  }
}

export function isJson(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').includes('application/json')
}

/** `X-Sweep-Line-Offset`: where this chunk starts in the client's file, for line numbers. */
export function lineOffsetOf(req: IncomingMessage): number {
  const raw = req.headers['x-sweep-line-offset']
  if (raw === undefined) return 0
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 0) throw new HttpError(400, `X-Sweep-Line-Offset must be a non-negative integer, got "${String(raw)}"`)
  return value
}
