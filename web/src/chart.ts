import type { SeriesSet } from './state';

/** Geometry of the clicks-per-minute chart, computed without the DOM; render.ts draws it as inline SVG. */

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9'] as const;

export interface ChartLine {
  readonly url: string;
  readonly color: string;
  /** SVG polyline `points`. */
  readonly points: string;
  readonly total: number;
  readonly last: { readonly x: number; readonly y: number; readonly value: number };
  /**
   * With `partialLast`: the segment into the current minute, drawn apart (dashed) because the
   * minute is still being counted: its value is "so far", not a drop. `points` then ends before it.
   */
  readonly partial?: { readonly x1: number; readonly y1: number; readonly x2: number; readonly y2: number };
}

export interface ChartModel {
  readonly width: number;
  readonly height: number;
  readonly plot: { readonly left: number; readonly top: number; readonly right: number; readonly bottom: number };
  readonly yTicks: readonly { readonly value: number; readonly y: number }[];
  /** Every `minutesPerTick`th minute, counted back from the current one; the last is anchored at its end so it is not clipped. */
  readonly xTicks: readonly { readonly ms: number; readonly x: number; readonly anchor: 'middle' | 'end' }[];
  readonly lines: readonly ChartLine[];
}

/**
 * A round tick step for values up to `max`, aiming at four intervals: 1, 2, 2.5 or 5 times a power
 * of ten, and a whole number (no 2.5 below 10, no step below 1).
 */
export function tickStep(max: number): number {
  const raw = Math.max(1, max / 4);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const steps = magnitude >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
  for (const step of steps) if (step * magnitude >= raw) return step * magnitude;
  return 10 * magnitude;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

/**
 * @param minutesPerTick - minutes between x labels: 5 leaves a label about 35 px on a phone-width
 *   chart, less than "12:35 PM" needs, so narrow charts pass 10
 */
export function chartModel(set: SeriesSet, { width = 720, height = 260, partialLast = false, minutesPerTick = 5 } = {}): ChartModel {
  const plot = { left: 44, top: 12, right: width - 12, bottom: height - 28 };
  const highest = Math.max(0, ...set.series.flatMap((series) => series.points));
  const step = tickStep(highest);
  const max = Math.max(1, Math.ceil(highest / step)) * step;
  const count = set.minutes.length;
  const x = (index: number): number => round1(plot.left + (count <= 1 ? 0 : (index * (plot.right - plot.left)) / (count - 1)));
  const y = (value: number): number => round1(plot.bottom - (value / max) * (plot.bottom - plot.top));
  const yTicks = Array.from({ length: max / step + 1 }, (_, index) => ({ value: index * step, y: y(index * step) }));
  const xTicks = set.minutes
    .map((ms, index) => ({ ms, x: x(index), index }))
    .filter(({ index }) => (count - 1 - index) % minutesPerTick === 0)
    .map(({ ms, x: position, index }) => ({ ms, x: position, anchor: index === count - 1 ? ('end' as const) : ('middle' as const) }));
  const lines = set.series.map((series, index) => {
    const lastIndex = series.points.length - 1;
    const complete = partialLast && lastIndex > 0 ? series.points.slice(0, lastIndex) : series.points;
    const line: ChartLine = {
      url: series.url,
      color: SERIES_COLORS[index % SERIES_COLORS.length]!,
      points: complete.map((value, i) => `${x(i)},${y(value)}`).join(' '),
      total: series.total,
      last: { x: x(lastIndex), y: y(series.points[lastIndex] ?? 0), value: series.points[lastIndex] ?? 0 },
      ...(partialLast && lastIndex > 0
        ? { partial: { x1: x(lastIndex - 1), y1: y(series.points[lastIndex - 1] ?? 0), x2: x(lastIndex), y2: y(series.points[lastIndex] ?? 0) } }
        : {}),
    };
    return line;
  });
  return { width, height, plot, yTicks, xTicks, lines };
}
