// The dashboard page: renders each snapshot /v1/events sends, and looks CIDs up on demand.
// Same-origin requests carry the token's cookie, so nothing here handles the token.

import { renderThroughput } from './chart.js'
import { formatAge, renderRing } from './ring.js'

const $ = (id) => document.querySelector(`[data-testid="${id}"]`)
let last
let selected

function setNumber(id, value, text = value.toLocaleString()) {
  const node = $(id)
  node.textContent = text
  node.dataset.value = String(value)
}

function cell(content) {
  const td = document.createElement('td')
  td.textContent = content
  return td
}

function row(testid, key, cells) {
  const tr = document.createElement('tr')
  tr.dataset.testid = testid
  tr.dataset.key = key
  tr.append(...cells.map(cell))
  return tr
}

function emptyRow(columns, message) {
  const td = cell(message)
  td.colSpan = columns
  td.className = 'muted'
  const tr = document.createElement('tr')
  tr.append(td)
  return tr
}

/** What a worker runs: each job's region, reason and age, as the queue has them. */
function jobsOf(running, worker, now) {
  return running.filter((job) => job.worker === worker)
    .map((job) => `${job.prefix || '(all)'} ${job.reason}${job.startedAt === null ? '' : ` ${formatAge(now - job.startedAt)}`}`)
    .join(', ')
}

function renderWorkers(workers, running, now) {
  const rows = workers.map((w) => {
    const tr = row('worker-row', w.id, [
      w.id, w.host === undefined ? '' : `${w.host} (pid ${w.pid})`,
      w.active === undefined ? '?' : `${w.active} of ${w.concurrency} job${w.concurrency === 1 ? '' : 's'}`,
      jobsOf(running, w.id, now) || 'idle',
      w.connections === undefined ? '' : String(w.connections), `${formatAge(now - w.lastSeen)} ago`
    ])
    tr.dataset.running = running.filter((job) => job.worker === w.id).map((job) => job.prefix).join(',')
    tr.classList.toggle('busy', (w.active ?? 0) > 0)
    return tr
  })
  $('workers').replaceChildren(...(rows.length > 0 ? rows : [emptyRow(6, 'no worker has sent a heartbeat lately')]))
}

function renderQueue(queues, cycle) {
  const entries = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'].flatMap((state) => {
    const dt = document.createElement('dt')
    dt.textContent = state
    const dd = document.createElement('dd')
    dd.dataset.testid = `queue-${state}`
    dd.dataset.value = String(queues[state])
    dd.textContent = queues[state].toLocaleString()
    return [dt, dd]
  })
  $('queue').replaceChildren(...entries)
  $('next-region').textContent = cycle.nextAt === null ? ''
    : `next scheduled: region ${cycle.nextRegion || '(whole keyspace)'} at ${new Date(cycle.nextAt).toLocaleString()}`
}

function renderFailures(failures, now) {
  const rows = failures.map((f) => row('failure-row', f.prefix, [f.prefix || '(whole keyspace)', `${formatAge(now - f.at)} ago`, String(f.failures), f.keys.toLocaleString()]))
  $('failures').replaceChildren(...(rows.length > 0 ? rows : [emptyRow(4, 'none since this coordinator started')]))
}

function render(snapshot) {
  last = snapshot
  const { stats, at } = snapshot
  setNumber('keys-total', stats.keys.total)
  setNumber('regions-count', stats.keys.regions)
  setNumber('keys-per-minute', stats.provides.keysPerMinute, Math.round(stats.provides.keysPerMinute).toLocaleString())
  setNumber('cycle-progress', stats.cycle.regionsDone, `${stats.cycle.regionsDone} / ${stats.cycle.regionsTotal} regions`)
  setNumber('records-sent', stats.provides.recordsSent)
  setNumber('network-size', stats.network.size, `~${Math.round(stats.network.size).toLocaleString()} servers`)
  $('leader').textContent = stats.leader?.id ?? 'none'
  renderRing($('ring'), snapshot.regions, { now: at, intervalMs: snapshot.intervalMs, selected, totalKeys: stats.keys.total })
  renderThroughput($('throughput'), snapshot.throughput)
  $('throughput-note').textContent = snapshot.throughput.since === null ? '' : `sampled by this coordinator since ${new Date(snapshot.throughput.since).toLocaleTimeString()}`
  renderWorkers(stats.workers, snapshot.running, at)
  renderQueue(stats.queues, stats.cycle)
  renderFailures(snapshot.failures, at)
  const updated = $('updated-at')
  updated.textContent = new Date(at).toLocaleTimeString()
  updated.dateTime = new Date(at).toISOString()
  updated.dataset.value = String(at)
}

function setConnection(state, text) {
  const node = $('connection')
  node.dataset.state = state
  node.textContent = text
}

function connect() {
  const events = new EventSource('/v1/events')
  events.addEventListener('snapshot', (event) => {
    setConnection('live', 'live')
    render(JSON.parse(event.data))
  })
  // what changed since the last event: the regions that did, and those a split or merge removed
  events.addEventListener('update', (event) => {
    const { changed, removed, ...rest } = JSON.parse(event.data)
    const regions = new Map(last.regions.map((r) => [r.prefix, r]))
    for (const prefix of removed) regions.delete(prefix)
    for (const region of changed) regions.set(region.prefix, region)
    setConnection('live', 'live')
    render({ ...rest, regions: [...regions.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)) })
  })
  events.addEventListener('error', async () => {
    setConnection('down', 'reconnecting…')
    // EventSource hides the status; ask once, to tell a missing token from a coordinator away
    const res = await fetch('/v1/dashboard').catch(() => undefined)
    if (res?.status === 401) {
      events.close()
      setConnection('down', 'not signed in: open /?token=<token>')
    }
  })
}

function describe(status) {
  const entries = [
    ['region', status.region === null ? 'no schedule yet' : status.region || '(whole keyspace)', 'cid-region'],
    ['stored', status.stored ? (status.once ? 'yes, to be provided once' : 'yes') : 'no', 'cid-stored'],
    ['last provide', status.lastProvide === null ? 'never' : `${new Date(status.lastProvide).toLocaleString()} (${formatAge(Date.now() - status.lastProvide)} ago)`],
    ['outcome', status.outcome ?? '–'],
    ['next slot', status.nextSlot === null ? '–' : new Date(status.nextSlot).toLocaleString()],
    ['expected holders', String(status.expectedHolders)],
    ['kad key', status.kadKey]
  ]
  return entries.flatMap(([name, value, testid]) => {
    const dt = document.createElement('dt')
    dt.textContent = name
    const dd = document.createElement('dd')
    dd.textContent = value
    if (testid !== undefined) dd.dataset.testid = testid
    if (testid === 'cid-region' && status.region !== null) dd.dataset.value = status.region
    return [dt, dd]
  })
}

async function search(event) {
  event.preventDefault()
  const cid = new FormData(event.target).get('cid').trim()
  const result = $('cid-result')
  result.hidden = false
  result.classList.remove('error')
  result.replaceChildren(Object.assign(document.createElement('dd'), { textContent: 'looking…' }))
  const res = await fetch(`/v1/cids/${encodeURIComponent(cid)}`)
  const body = await res.json()
  if (!res.ok) {
    result.classList.add('error')
    result.replaceChildren(Object.assign(document.createElement('dd'), { textContent: body.error }))
    selected = undefined
  } else {
    result.replaceChildren(...describe(body))
    selected = body.region ?? undefined
  }
  if (last !== undefined) render(last)
}

$('cid-form').addEventListener('submit', (event) => void search(event).catch((error) => {
  $('cid-result').replaceChildren(Object.assign(document.createElement('dd'), { textContent: String(error) }))
}))
connect()
