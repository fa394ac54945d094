import { describe, expect, it } from 'vitest';
import { createHedge, HEDGE_MIN_SAMPLES, HEDGE_WINDOW, p99 } from '../../../api/services/tenant-sync/hedge';

const settings = { enabled: true, minMs: 100, maxMs: 1_500, timeoutMs: 2_000 };

describe('hedge delay', () => {
  it('is the upper bound until enough healthy answers were seen', () => {
    const h = createHedge(settings);
    expect(h.delayMs()).toBe(1_500);
    for (let i = 0; i < HEDGE_MIN_SAMPLES - 1; i++) h.observe(50);
    expect(h.delayMs()).toBe(1_500);
    h.observe(50);
    expect(h.delayMs()).toBe(100); // 2 × 50 = 100, at the lower bound
  });

  it('is twice the p99 of recent answers, within its bounds', () => {
    const h = createHedge(settings);
    for (let i = 0; i < 99; i++) h.observe(100);
    h.observe(400); // the slowest 1 % of 100 samples is above the p99 (nearest rank: the 99th)
    expect(h.delayMs()).toBe(200);
    h.observe(400); // two slow ones of 101: the 100th value is the p99
    expect(h.delayMs()).toBe(800);
    for (let i = 0; i < 100; i++) h.observe(1_000);
    expect(h.delayMs()).toBe(1_500); // 2 000 capped
  });

  it('forgets old answers: the ring holds the last HEDGE_WINDOW', () => {
    const h = createHedge(settings);
    for (let i = 0; i < HEDGE_WINDOW; i++) h.observe(600);
    expect(h.delayMs()).toBe(1_200);
    for (let i = 0; i < HEDGE_WINDOW; i++) h.observe(60);
    expect(h.samples()).toBe(HEDGE_WINDOW);
    expect(h.delayMs()).toBe(120);
  });

  it('never hedges when off, or when the delay would reach the login timeout', () => {
    expect(createHedge({ ...settings, enabled: false }).delayMs()).toBeUndefined();
    expect(createHedge({ ...settings, timeoutMs: 1_500 }).delayMs()).toBeUndefined();
    expect(createHedge({ ...settings, timeoutMs: 1_501 }).delayMs()).toBe(1_500);
  });

  it('ignores nonsense samples', () => {
    const h = createHedge(settings);
    h.observe(Number.NaN);
    h.observe(-1);
    expect(h.samples()).toBe(0);
  });

  it('p99 is the nearest-rank percentile', () => {
    expect(p99([])).toBe(0);
    expect(p99([5])).toBe(5);
    expect(p99(Array.from({ length: 200 }, (_, i) => i + 1))).toBe(198);
  });
});
