import { describe, expect, it } from 'vitest';
import { chartModel, SERIES_COLORS, tickStep } from '../../web/src/chart';

describe('tickStep', () => {
  it.each([
    { max: 0, step: 1 },
    { max: 3, step: 1 },
    { max: 5, step: 2 },
    { max: 45, step: 20 },
    { max: 99, step: 25 },
    { max: 1000, step: 250 },
    { max: 12_345, step: 5000 },
  ])('is $step for values up to $max', ({ max, step }) => {
    expect(tickStep(max)).toBe(step);
  });
});

describe('chartModel', () => {
  const minutes = [0, 60_000, 120_000, 180_000, 240_000, 300_000];

  it('maps minutes to x and clicks to y inside the plot, with round y ticks', () => {
    const model = chartModel({ minutes, series: [{ url: '/a', points: [0, 10, 20, 30, 40, 45], total: 145 }] }, { width: 544, height: 240 });

    expect(model.yTicks.map((tick) => tick.value)).toStrictEqual([0, 20, 40, 60]);
    expect(model.yTicks[0]!.y).toBe(model.plot.bottom);
    expect(model.yTicks.at(-1)!.y).toBe(model.plot.top);
    expect(model.lines[0]!.points.split(' ')[0]).toBe(`${model.plot.left},${model.plot.bottom}`);
    expect(model.lines[0]!.last).toStrictEqual({ x: model.plot.right, y: 62, value: 45 });
    expect(model.lines[0]!.color).toBe(SERIES_COLORS[0]);
  });

  it('labels every fifth minute back from the current one and anchors the last label at its end', () => {
    const model = chartModel({ minutes, series: [] });

    expect(model.xTicks.map(({ ms, anchor }) => ({ ms, anchor }))).toStrictEqual([
      { ms: 0, anchor: 'middle' },
      { ms: 300_000, anchor: 'end' },
    ]);
    expect(model.lines).toStrictEqual([]);
  });
});
