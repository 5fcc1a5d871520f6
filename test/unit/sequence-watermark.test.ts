import { describe, expect, it } from 'vitest';
import { SequenceWatermark } from '../../gateway/core/sequence-watermark';

describe('SequenceWatermark', () => {
  it('advances only past messages whose ticks are acknowledged', () => {
    const watermark = new SequenceWatermark(5);
    watermark.received(5);
    watermark.received(6);
    expect(watermark.safeNextExpected()).toBe(5);
    watermark.acknowledged(6);
    expect(watermark.safeNextExpected()).toBe(5);
    watermark.acknowledged(5);
    expect(watermark.safeNextExpected()).toBe(7);
  });

  it('holds at a gap until the resend arrives and is acknowledged', () => {
    const watermark = new SequenceWatermark(1);
    watermark.receivedWithoutTicks(1);
    watermark.received(5);
    watermark.acknowledged(5);
    expect(watermark.safeNextExpected()).toBe(2);
    for (const seq of [2, 3]) watermark.received(seq);
    watermark.acknowledged(2);
    expect(watermark.safeNextExpected()).toBe(3);
    watermark.acknowledged(3);
    expect(watermark.safeNextExpected()).toBe(4);
    watermark.receivedWithoutTicks(4);
    expect(watermark.safeNextExpected()).toBe(6);
    expect(watermark.pending).toStrictEqual({ inFlight: 0, missing: 0 });
  });

  it('lets a SequenceReset-GapFill close a gap', () => {
    const watermark = new SequenceWatermark(10);
    watermark.received(14);
    watermark.acknowledged(14);
    watermark.gapFilled(10, 14);
    expect(watermark.safeNextExpected()).toBe(15);
    watermark.gapFilled(15, 20);
    expect(watermark.safeNextExpected()).toBe(20);
  });

  it('treats a PossDup resend of an old message as nothing new', () => {
    const watermark = new SequenceWatermark(1);
    watermark.received(1);
    watermark.acknowledged(1);
    watermark.received(1);
    expect(watermark.safeNextExpected()).toBe(1);
    watermark.acknowledged(1);
    expect(watermark.safeNextExpected()).toBe(2);
  });

  it('has seen what arrived or came before the session started, but not a number inside an open gap', () => {
    const watermark = new SequenceWatermark(5);
    watermark.received(8);

    expect([3, 4, 5, 6, 7, 8, 9].map((seq) => [seq, watermark.seen(seq)])).toStrictEqual([
      [3, true], [4, true], [5, false], [6, false], [7, false], [8, true], [9, false],
    ]);
    watermark.received(6);
    watermark.gapFilled(5, 6);
    expect([5, 6, 7].map((seq) => watermark.seen(seq))).toStrictEqual([true, true, false]);
  });
});
