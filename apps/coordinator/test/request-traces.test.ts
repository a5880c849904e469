/** Which traced requests a region's burst job links to, and how long an unmatched mark is held. */
import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import { MAX_REQUEST_LINKS, RequestTraces } from '../src/request-traces.ts'

function traceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`
}
const spanIdOf = (tp: string): string => tp.split('-')[2]

it('links a region to marks above it, on it and inside it, oldest first, and to nothing else', () => {
  const traces = new RequestTraces()
  const [root, above, inside, elsewhere] = [traceparent(), traceparent(), traceparent(), traceparent()]
  traces.refresh(new Map([['', root]]), 1_000)
  traces.refresh(new Map([['0', above], ['0110', inside], ['10', elsewhere]]), 2_000)
  expect(traces.of('01').map((c) => c.spanId)).toEqual([root, above, inside].map(spanIdOf))
  expect(traces.of('11').map((c) => c.spanId)).toEqual([spanIdOf(root)])
  expect(traces.of('1').map((c) => c.spanId)).toEqual([root, elsewhere].map(spanIdOf))
})

it('drops the marks a served region matched once the flush settles, and holds the rest for a minute', () => {
  const traces = new RequestTraces()
  const [served, waiting] = [traceparent(), traceparent()]
  traces.refresh(new Map([['00', served], ['11', waiting]]), 0)
  traces.served('0')
  // another region of the same flush still links to a mark the first one was served with
  expect(traces.of('00').map((c) => c.spanId)).toEqual([spanIdOf(served)])
  traces.settle()
  expect(traces.size).toBe(1)
  traces.refresh(new Map(), 59_000)
  expect(traces.of('1').map((c) => c.spanId)).toEqual([spanIdOf(waiting)])
  traces.refresh(new Map(), 61_000)
  expect(traces.size).toBe(0)
})

it('ignores a malformed traceparent and caps the links of one region', () => {
  const traces = new RequestTraces()
  traces.refresh(new Map([['0', 'not-a-traceparent']]), 0)
  expect(traces.size).toBe(0)
  const many = new Map(Array.from({ length: MAX_REQUEST_LINKS + 10 }, (_, i) => [i.toString(2).padStart(8, '0'), traceparent()]))
  traces.refresh(many, 0)
  expect(traces.of('')).toHaveLength(MAX_REQUEST_LINKS)
})
