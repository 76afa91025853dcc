/**
 * Time lookups of matching without O(n²): which intervals (call windows) contain each point (lead
 * time), and which points fall inside each interval. Both count exactly and list at most a few ids
 * (see `Fit`), so the cost stays O((n + m) log n) even when thousands of calls share one time.
 */
import { FIT_LIST_CAP, type Fit } from './match-types.ts';

/** A closed interval [from, to] in milliseconds, tagged with the index of what it belongs to. */
export interface Interval {
  id: number;
  from: number;
  to: number;
}

/** A point in time in milliseconds, tagged with the index of what it belongs to. */
export interface TimePoint {
  id: number;
  at: number;
}

/** First index in `sorted` whose value is ≥ x (or > x when `strict`). */
function lowerBound(sorted: readonly TimePoint[], x: number, strict: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!.at;
    if (v < x || (strict && v === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * For each point, the intervals containing it (ends included). A sweep over the points in time order
 * keeps the set of open intervals; each interval enters and leaves it once. Listed ids are in order of
 * the intervals' starts (then ids), so messages are deterministic. Points no interval contains are absent.
 */
export function intervalsContaining(intervals: readonly Interval[], points: readonly TimePoint[]): Map<number, Fit> {
  const byFrom = [...intervals].sort((a, b) => a.from - b.from || a.id - b.id);
  const byTo = [...intervals].sort((a, b) => a.to - b.to || a.id - b.id);
  const sortedPoints = [...points].sort((a, b) => a.at - b.at || a.id - b.id);
  const open = new Set<number>();
  const out = new Map<number, Fit>();
  let i = 0;
  let j = 0;
  for (const p of sortedPoints) {
    while (i < byFrom.length && byFrom[i]!.from <= p.at) open.add(byFrom[i++]!.id);
    while (j < byTo.length && byTo[j]!.to < p.at) open.delete(byTo[j++]!.id);
    if (open.size === 0) continue;
    const ids: number[] = [];
    for (const id of open) {
      if (ids.length >= FIT_LIST_CAP) break;
      ids.push(id);
    }
    out.set(p.id, { count: open.size, ids });
  }
  return out;
}

/** For each interval, the points inside it (ends included), by binary search. Empty ones are absent. */
export function pointsWithin(points: readonly TimePoint[], intervals: readonly Interval[]): Map<number, Fit> {
  const sorted = [...points].sort((a, b) => a.at - b.at || a.id - b.id);
  const out = new Map<number, Fit>();
  for (const iv of intervals) {
    const lo = lowerBound(sorted, iv.from, false);
    const hi = lowerBound(sorted, iv.to, true);
    if (hi <= lo) continue;
    const ids: number[] = [];
    for (let k = lo; k < hi && ids.length < FIT_LIST_CAP; k++) ids.push(sorted[k]!.id);
    out.set(iv.id, { count: hi - lo, ids });
  }
  return out;
}

/** Every point inside [from, to] (ends included), in time order; for windows known to be short. */
export function allPointsWithin(sorted: readonly TimePoint[], from: number, to: number): number[] {
  const ids: number[] = [];
  for (let k = lowerBound(sorted, from, false); k < sorted.length && sorted[k]!.at <= to; k++) ids.push(sorted[k]!.id);
  return ids;
}

/** Sort points by time (then id), the order `allPointsWithin` expects. */
export function sortPoints(points: readonly TimePoint[]): TimePoint[] {
  return [...points].sort((a, b) => a.at - b.at || a.id - b.id);
}
