// The keyspace ring: one arc per region, placed by its prefix, as tall as its share of the
// keys, coloured by the time since its last provide.

const SVG = 'http://www.w3.org/2000/svg'
const INNER = 80
const MIN_HEIGHT = 14
const MAX_HEIGHT = 110
// a hairline between neighbours, dropped on arcs too thin to spare it
const GAP = 0.004

/** Where a prefix's subtree starts on the ring and how much of it it covers, both in turns. */
export function placeOf(prefix) {
  // past 52 bits a Number loses the low ones; no real region is that deep
  const bits = prefix.slice(0, 52)
  const span = 2 ** -bits.length
  return { start: bits === '' ? 0 : parseInt(bits, 2) * span, span }
}

/** Green when just provided, through yellow, to red at one interval; grey when never. */
export function ageColour(lastReprovide, now, intervalMs) {
  if (lastReprovide === null) return 'var(--never)'
  const f = Math.min(1, Math.max(0, (now - lastReprovide) / intervalMs))
  return `hsl(${Math.round(130 * (1 - f))} 70% 45%)`
}

function point(turns, radius) {
  const angle = turns * 2 * Math.PI - Math.PI / 2
  return `${(radius * Math.cos(angle)).toFixed(2)} ${(radius * Math.sin(angle)).toFixed(2)}`
}

function sector(from, to, outer) {
  const large = to - from > 0.5 ? 1 : 0
  return `M ${point(from, outer)} A ${outer} ${outer} 0 ${large} 1 ${point(to, outer)} ` +
    `L ${point(to, INNER)} A ${INNER} ${INNER} 0 ${large} 0 ${point(from, INNER)} Z`
}

/** An annular sector; a whole ring (a single region) as two halves, since an arc can't end where it starts. */
function arcPath(start, span, outer) {
  if (span >= 1) return `${sector(0, 0.5, outer)} ${sector(0.5, 1, outer)}`
  const gap = span > GAP * 4 ? GAP : 0
  return sector(start + gap / 2, start + span - gap / 2, outer)
}

function text(x, y, content, className) {
  const el = document.createElementNS(SVG, 'text')
  el.setAttribute('x', String(x))
  el.setAttribute('y', String(y))
  el.setAttribute('class', className)
  el.textContent = content
  return el
}

export function renderRing(svg, regions, { now, intervalMs, selected, totalKeys }) {
  const most = Math.max(1, ...regions.map((r) => r.keys))
  const arcs = regions.map((region) => {
    const { start, span } = placeOf(region.prefix)
    const outer = INNER + MIN_HEIGHT + (MAX_HEIGHT - MIN_HEIGHT) * (region.keys / most)
    const path = document.createElementNS(SVG, 'path')
    path.setAttribute('d', arcPath(start, span, outer))
    path.setAttribute('fill', ageColour(region.lastReprovide, now, intervalMs))
    path.setAttribute('class', `arc${region.prefix === selected ? ' selected' : ''}${region.outcome === 'failed' ? ' failed' : ''}`)
    path.dataset.testid = 'region-arc'
    path.dataset.prefix = region.prefix
    path.dataset.lastReprovide = String(region.lastReprovide)
    const title = document.createElementNS(SVG, 'title')
    const age = region.lastReprovide === null ? 'not provided yet' : `provided ${formatAge(now - region.lastReprovide)} ago`
    title.textContent = `region ${region.prefix || '(whole keyspace)'}: ${region.keys.toLocaleString()} keys, ${region.peers} peers, ${age}` +
      (region.outcome === 'failed' ? `, last attempt failed (${region.failures} in a row)` : '')
    path.append(title)
    return path
  })
  svg.replaceChildren(...arcs,
    text(0, -4, totalKeys.toLocaleString(), 'ring-total'),
    text(0, 16, `keys in ${regions.length} region${regions.length === 1 ? '' : 's'}`, 'ring-caption'))
}

export function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 90) return `${s} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  if (s < 36 * 3600) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} d`
}
