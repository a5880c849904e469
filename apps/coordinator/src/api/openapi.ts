/**
 * The HTTP API described as OpenAPI 3.1, served at GET /v1/openapi.json and kept in
 * docs/openapi.json (a test keeps the two equal and checks real answers against it).
 */

type Schema = Record<string, unknown>

const integer = { type: 'integer', minimum: 0 }
const number = { type: 'number', minimum: 0 }
const millis = { type: 'integer', description: 'Unix time in milliseconds' }
const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] })
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema =>
  ({ type: 'object', properties, required, additionalProperties: false })
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })

const cidBody = {
  required: true,
  description: 'CIDs: text/plain, one per line (blank lines and # comments skipped), or {"cids": [...]}',
  content: {
    'text/plain': { schema: { type: 'string' } },
    'application/json': { schema: object({ cids: { type: 'array', items: { type: 'string' } } }) }
  }
}

const tallied = (extra: Record<string, Schema>): Schema => object({
  accepted: { ...integer, description: 'valid CIDs in the body' },
  invalid: { type: 'array', items: ref('InvalidLine'), maxItems: 100, description: 'the first bad lines' },
  invalidCount: integer,
  ...extra
})

function json(description: string, schema: Schema): Schema {
  return { description, content: { 'application/json': { schema } } }
}

const error = (description: string): Schema => json(description, ref('Error'))

function text(description: string, type: string): Schema {
  return { description, content: { [type]: { schema: { type: 'string' } } } }
}

/** The answers every /v1 operation may give besides its own. */
const common = {
  400: error('bad query, header, body shape or CID'),
  401: error('missing or wrong bearer token'),
  403: error('a foreign Origin or Host'),
  500: error('anything else (logged)')
}

function operation(summary: string, responses: Record<string, Schema>, extra: Schema = {}): Schema {
  return { summary, ...extra, responses: { ...responses, ...common } }
}

const uploadId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[\\w-]+$' } }
const allowEmpty = {
  name: 'allowEmpty', in: 'query', required: false, schema: { type: 'string', enum: ['1', 'true'] },
  description: 'allow a reset to an empty set'
}
const resetRefused = {
  409: error('another reset is open (named), or the keystore is being re-bucketed'),
  501: error('the keystore is sharded (a Redis Cluster): a reset cannot switch every shard in one step')
}

export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'sweep HTTP API',
    version: '1',
    description: 'Served by every sweep coordinator; see docs/http-api.md for the rules every endpoint shares.'
  },
  servers: [{ url: 'http://127.0.0.1:8080' }],
  security: [{ bearer: [] }, { cookie: [] }, {}],
  paths: {
    '/v1/provide': {
      post: operation('Store CIDs and provide the new ones now (burst lane)', { 200: json('stored', ref('ProvideReport')), 413: error('body over --max-body; batches before the cut are kept') }, {
        parameters: [{ name: 'once', in: 'query', required: false, schema: { type: 'string', enum: ['1'] }, description: 'provide once, then drop from the set' }],
        requestBody: cidBody
      })
    },
    '/v1/stop': {
      post: operation('Remove CIDs from the reprovide set', { 200: json('removed', ref('StopReport')), 413: error('body over --max-body') }, { requestBody: cidBody })
    },
    '/v1/reprovide-set': {
      put: operation('Replace the whole set with the body, in one step', { 200: json('replaced', ref('ResetReport')), 413: error('body over --max-body; nothing changes'), ...resetRefused }, {
        parameters: [allowEmpty], requestBody: cidBody
      })
    },
    '/v1/reprovide-set/uploads': {
      post: operation('Open a chunked reset', { 201: json('opened', object({ upload: { type: 'string' } })), ...resetRefused })
    },
    '/v1/reprovide-set/uploads/{id}': {
      post: operation('Add a chunk to an open reset (on any coordinator)', { 200: json('staged', ref('UploadChunkReport')), 404: error('no such open upload'), 413: error('body over --max-body') }, {
        parameters: [uploadId], requestBody: cidBody
      }),
      delete: operation('Abort an open reset', { 200: json('aborted', object({ aborted: { const: true } })), 404: error('no such open upload') }, { parameters: [uploadId] })
    },
    '/v1/reprovide-set/uploads/{id}/commit': {
      post: operation('Swap the uploaded set in, in one step', { 200: json('committed', object({ total: integer })), 404: error('no such open upload') }, {
        parameters: [uploadId, allowEmpty]
      })
    },
    '/v1/stats': {
      get: operation('The cluster at a glance', { 200: json('stats', ref('Stats')) })
    },
    '/v1/cids/{cid}': {
      get: operation('Where one CID sits in the schedule', { 200: json('status', ref('CidStatus')) }, {
        parameters: [{ name: 'cid', in: 'path', required: true, schema: { type: 'string' } }]
      })
    },
    '/v1/sample': {
      get: operation('Random stored CIDs, for sweep verify', { 200: json('sample', object({ cids: { type: 'array', items: { type: 'string' }, maxItems: 10_000 } })) }, {
        parameters: [{ name: 'n', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10_000, default: 50 } }]
      })
    },
    '/v1/sweep': {
      post: operation('Queue every region now, outside its slot', { 202: json('queued', object({ queued: integer })) })
    },
    '/v1/dashboard': {
      get: operation('What the web dashboard shows: the stats, every region, the jobs running, the last hour\'s throughput, the last failures', { 200: json('snapshot', ref('Dashboard')) })
    },
    '/v1/events': {
      get: operation('The dashboard snapshot, live: server-sent events', {
        200: text('a `snapshot` event at once, its data a Dashboard object as JSON; then every 2 s an `update` event, a Dashboard with `changed` (the regions that changed) and `removed` (their prefixes) in place of `regions`, or a `snapshot` again for a client that missed one; it ends when the coordinator stops', 'text/event-stream')
      })
    },
    '/': {
      get: operation('The web dashboard', {
        200: text('the page', 'text/html'),
        303: { description: 'with ?token=: the token moved into an HttpOnly, SameSite=Strict cookie, and back to / without it', headers: { 'set-cookie': { schema: { type: 'string' } }, location: { schema: { const: '/' } } } }
      }, {
        parameters: [{ name: 'token', in: 'query', required: false, schema: { type: 'string' }, description: 'the API token, for a browser, which cannot send the header' }]
      })
    },
    '/dashboard/{file}': {
      get: operation('The dashboard page\'s scripts and style sheet', {
        200: { description: 'the file', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } },
        404: error('no such file')
      }, { parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string', pattern: '^[\\w.-]+$' } }] })
    },
    '/v1/openapi.json': {
      get: operation('This document', { 200: json('the OpenAPI document', { type: 'object', required: ['openapi', 'paths'] }) })
    }
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'required on every request when the coordinator runs with --api-token' },
      cookie: {
        type: 'apiKey', in: 'cookie', name: 'sweep-token-PORT',
        description: 'for browsers, on GET requests only: set by GET /?token=, named after the port the API listens on (sweep-token-8080)'
      }
    },
    schemas: {
      Error: object({ error: { type: 'string' } }),
      InvalidLine: object({ line: { type: 'integer', minimum: 1 }, input: { type: 'string', maxLength: 200 }, error: { type: 'string' } }),
      ProvideReport: tallied({ added: integer, duplicates: integer, dirtyBuckets: integer }),
      StopReport: tallied({ removed: integer }),
      ResetReport: tallied({ total: integer }),
      UploadChunkReport: tallied({}),
      Stats: object({
        keys: object({
          total: integer, regions: integer, avgRegionSize: number, avgPrefixLength: number,
          bucketBits: { type: 'integer', minimum: 1, maximum: 24 },
          rebucketing: nullable(object({
            fromBits: integer, toBits: integer, phase: { enum: ['copying', 'switched'] }, bucketsCopied: integer, buckets: integer
          }))
        }),
        queues: object({ waiting: integer, active: integer, delayed: integer, prioritized: integer, failed: integer, completed: integer }),
        workers: { type: 'array', items: ref('Worker') },
        cycle: object({
          start: nullable(millis), intervalMs: nullable(integer), number: integer, offsetMs: { type: 'integer' },
          regionsDone: integer, regionsTotal: integer, keysProvided: integer, nextRegion: nullable({ type: 'string', pattern: '^[01]*$' }), nextAt: nullable(millis)
        }),
        provides: object({
          recordsSent: integer, recordsFailed: integer, recordsReplaced: integer, keysProvided: integer, keysPerMinute: number,
          rateWindowMs: { ...integer, description: 'keysPerMinute is over this window: 10 min, or the cluster\'s age when younger (at least 10 s)' },
          lookups: integer, regionsOk: integer, regionsFailed: integer, regionsEmpty: integer, regionsReswept: integer, lastRegionAt: nullable(millis)
        }),
        network: object({
          size: { ...number, description: 'estimated DHT servers' }, prefixLength: integer, measuredAt: nullable(millis), reachablePeers: integer, unreachablePeers: integer,
          connectivity: { enum: ['unknown', 'online', 'offline'] }
        }),
        leader: nullable(object({ id: { type: 'string' } }))
      }),
      Worker: {
        type: 'object',
        required: ['id', 'lastSeen'],
        properties: {
          id: { type: 'string' }, lastSeen: millis, peerId: { type: 'string' }, host: { type: 'string' }, pid: integer,
          concurrency: integer, active: integer, connections: integer,
          bootstrap: { type: 'array', items: { type: 'string' } }, announce: { type: 'array', items: { type: 'string' } }
        }
      },
      Dashboard: object({
        at: millis,
        intervalMs: integer,
        stats: ref('Stats'),
        regions: {
          type: 'array',
          items: object({
            prefix: { type: 'string', pattern: '^[01]*$' }, keys: integer, peers: integer, lastReprovide: nullable(millis),
            outcome: nullable({ enum: ['ok', 'failed', 'empty'] }), failures: integer
          })
        },
        throughput: object({
          bucketMs: integer, from: millis, since: nullable(millis),
          keys: { type: 'array', items: integer, minItems: 60, maxItems: 60, description: 'keys provided per bucket, oldest first; the last bucket is still filling' },
          records: { type: 'array', items: integer, minItems: 60, maxItems: 60 }
        }),
        running: {
          type: 'array', maxItems: 1000, description: 'the region jobs workers are running now (the first 1000)',
          items: object({
            jobId: { type: 'string' }, prefix: { type: 'string', pattern: '^[01]*$' }, reason: { enum: ['reprovide', 'provide', 'catch-up', 'retry', 'manual', 'resweep'] },
            worker: nullable({ type: 'string' }), startedAt: nullable(millis)
          })
        },
        failures: {
          type: 'array', maxItems: 20, description: 'region attempts that failed, newest first, as this coordinator saw them since it started',
          items: object({ prefix: { type: 'string', pattern: '^[01]*$' }, at: millis, failures: integer, keys: integer })
        }
      }),
      CidStatus: object({
        cid: { type: 'string' }, stored: { type: 'boolean' }, once: { type: 'boolean' }, kadKey: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        region: nullable({ type: 'string', pattern: '^[01]*$' }), lastProvide: nullable(millis), outcome: nullable({ enum: ['ok', 'failed', 'empty'] }),
        nextSlot: nullable(millis), expectedHolders: integer
      })
    }
  }
} as const
