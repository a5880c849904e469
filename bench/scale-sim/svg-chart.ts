/**
 * A small line chart as SVG text: x on a log2 axis (worker counts), y linear or
 * log10, one line per series, a legend, and optional dashed horizontal guides.
 */

export interface Series {
  readonly label: string
  readonly points: ReadonlyArray<readonly [number, number]>
}

export interface ChartOptions {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly yLog?: boolean
  readonly yMin?: number
  readonly yMax?: number
  readonly guides?: ReadonlyArray<{ readonly y: number; readonly label: string }>
}

const WIDTH = 640
const HEIGHT = 400
const MARGIN = { left: 70, right: 150, top: 40, bottom: 50 }
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function lineChart(series: readonly Series[], options: ChartOptions): string {
  const xs = series.flatMap((s) => s.points.map(([x]) => x))
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).concat((options.guides ?? []).map((g) => g.y))
  const ty = (y: number): number => (options.yLog ? Math.log10(y) : y)
  const xMin = Math.log2(Math.min(...xs))
  const xMax = Math.log2(Math.max(...xs))
  let yLo = options.yMin ?? Math.min(...ys.map(ty))
  let yHi = options.yMax ?? Math.max(...ys.map(ty))
  if (options.yLog) {
    yLo = Math.floor(options.yMin === undefined ? yLo : Math.log10(options.yMin))
    yHi = Math.ceil(options.yMax === undefined ? yHi : Math.log10(options.yMax))
  }
  if (yHi === yLo) yHi = yLo + 1
  const plotW = WIDTH - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const px = (x: number): number => MARGIN.left + ((Math.log2(x) - xMin) / Math.max(xMax - xMin, 1)) * plotW
  const py = (y: number): number => MARGIN.top + plotH - ((Math.min(Math.max(ty(y), yLo), yHi) - yLo) / (yHi - yLo)) * plotH
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${escape(options.title)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`
  ]
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<line x1="${px(x)}" y1="${MARGIN.top}" x2="${px(x)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`)
    parts.push(`<text x="${px(x)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${x}</text>`)
  }
  const ticks = options.yLog
    ? Array.from({ length: yHi - yLo + 1 }, (_, i) => 10 ** (yLo + i))
    : Array.from({ length: 6 }, (_, i) => yLo + ((yHi - yLo) * i) / 5)
  for (const y of ticks) {
    parts.push(`<line x1="${MARGIN.left}" y1="${py(y)}" x2="${MARGIN.left + plotW}" y2="${py(y)}" stroke="#eee"/>`)
    parts.push(`<text x="${MARGIN.left - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(3)}</text>`)
  }
  for (const guide of options.guides ?? []) {
    parts.push(`<line x1="${MARGIN.left}" y1="${py(guide.y)}" x2="${MARGIN.left + plotW}" y2="${py(guide.y)}" stroke="#555" stroke-dasharray="5,4"/>`)
    parts.push(`<text x="${MARGIN.left + plotW + 6}" y="${py(guide.y) + 4}" fill="#555">${escape(guide.label)}</text>`)
  }
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]
    const path = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')
    parts.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`)
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`)
    // legend at the bottom right, clear of the guides' labels near the top
    const ly = MARGIN.top + plotH - (series.length - i) * 18
    parts.push(`<line x1="${MARGIN.left + plotW + 10}" y1="${ly}" x2="${MARGIN.left + plotW + 30}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`)
    parts.push(`<text x="${MARGIN.left + plotW + 36}" y="${ly + 4}">${escape(s.label)}</text>`)
  })
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escape(options.xLabel)}</text>`)
  parts.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
