/**
 * A seeded pseudo-random generator (mulberry32): tiny, fast and good enough to spread faults, jitter rows
 * and kill moments so that a run replays from its seed. Not for anything secret.
 */

/** Uniform draws in [0, 1) from `seed`: the same seed gives the same draws. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
