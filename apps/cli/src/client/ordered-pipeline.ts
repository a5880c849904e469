/**
 * Runs async work over a stream of items with bounded concurrency and hands results
 * back in input order (so invalid lines are reported in file order), pulling the
 * next item only when a slot is free: memory stays at `concurrency` items.
 */
export interface OrderedPipelineOptions<T, R> {
  readonly concurrency: number
  readonly signal?: AbortSignal
  /** Called once per item, in input order. */
  readonly onResult: (item: T, result: R) => void
}

export async function orderedPipeline<T, R>(
  source: AsyncIterable<T>,
  work: (item: T, signal: AbortSignal) => Promise<R>,
  options: OrderedPipelineOptions<T, R>
): Promise<void> {
  if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${options.concurrency}`)
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  const iterator = source[Symbol.asyncIterator]()
  const inFlight: Array<Promise<{ item: T; result: R }>> = []
  let exhausted = false
  try {
    for (;;) {
      while (!exhausted && inFlight.length < options.concurrency) {
        signal.throwIfAborted()
        const next = await iterator.next()
        if (next.done === true) {
          exhausted = true
          break
        }
        const item = next.value
        const running = work(item, signal).then((result) => ({ item, result }))
        // a later item may fail while we wait on an earlier one; it is awaited in turn
        running.catch(() => {})
        inFlight.push(running)
      }
      const head = inFlight.shift()
      if (head === undefined) return
      const { item, result } = await head
      options.onResult(item, result)
    }
  } catch (error) {
    stop.abort(error)
    await Promise.allSettled(inFlight)
    if (!exhausted) await iterator.return?.()
    throw error
  }
}
