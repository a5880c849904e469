// Keys provided per minute over the last hour, as bars; the newest minute is still filling.

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 600
const HEIGHT = 160
const AXIS = 14

function el(name, attributes, content) {
  const node = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value))
  if (content !== undefined) node.textContent = content
  return node
}

export function renderThroughput(svg, throughput) {
  const { keys, records, bucketMs, from } = throughput
  const most = Math.max(1, ...keys)
  const width = WIDTH / keys.length
  const bars = keys.map((n, i) => {
    const height = (HEIGHT - AXIS - 4) * (n / most)
    const minute = new Date(from + i * bucketMs).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    const bar = el('rect', { x: i * width + 1, y: HEIGHT - AXIS - height, width: Math.max(1, width - 2), height, class: 'bar' })
    bar.append(el('title', {}, `${minute}: ${n.toLocaleString()} keys, ${records[i].toLocaleString()} records`))
    return bar
  })
  svg.replaceChildren(
    el('line', { x1: 0, y1: HEIGHT - AXIS, x2: WIDTH, y2: HEIGHT - AXIS, class: 'axis' }),
    ...bars,
    el('text', { x: 2, y: 12, class: 'chart-label' }, `${most.toLocaleString()} keys/min`),
    el('text', { x: 2, y: HEIGHT - 2, class: 'chart-label' }, '60 min ago'),
    el('text', { x: WIDTH - 2, y: HEIGHT - 2, class: 'chart-label end' }, 'now')
  )
}
