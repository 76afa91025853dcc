/**
 * When the impairing relay (test/chaos/impair-relay.ts) lets each chunk through: the pure half of the
 * userspace stand-in for `tc netem` that the network chaos tests use where the kernel has no `sch_netem`.
 *
 * The relay sits between two TCP connections, so it sees what TCP hands an application: chunks of bytes, in
 * order, never a lost segment. The mapping from netem's knobs to what an application can observe:
 *
 * - `delay 200ms 100ms` (netem: each packet held 100–300 ms, without reordering since a rate or a queue
 *   keeps the order) → each chunk held for a delay drawn uniformly from `delayMs`, released no earlier than
 *   the chunk before it in the same direction (order kept per direction, as TCP keeps it).
 * - `loss 5%` (netem: a segment dropped; TCP retransmits it after a retransmission timeout, and the bytes
 *   behind it wait: head-of-line blocking) → with probability `lossRate` a chunk is held for an extra RTO
 *   drawn from `rtoMs` (Linux's 200 ms minimum to RFC 6298's 1 s initial RTO), doubled for each further
 *   loss of the same chunk in a row (RFC 6298 §5.5, the exponential backoff), up to `MAX_RETRANSMISSIONS`.
 * - a loss burst that kills the connection (TCP gives up, or a middlebox drops its state and answers RST) →
 *   with probability `resetRate` per chunk the relay resets both of its connections.
 *
 * Pure: the random draws come from the caller (`draw`, uniform in [0, 1)), so the table test can fix them.
 */
import { mulberry32 } from '../../src/local-crm/seeded-random.ts';

/** What the relay injects, each way. */
export interface Impairment {
  /** Uniform range of the delay of every chunk, in ms (`[0, 0]`: none). */
  delayMs: readonly [number, number];
  /** Probability (0–1) that a chunk is "lost": held for a retransmission timeout more. */
  lossRate: number;
  /** Uniform range of the first retransmission timeout of a lost chunk, in ms. */
  rtoMs: readonly [number, number];
  /** Probability (0–1) per chunk that the connection is reset instead. */
  resetRate: number;
}

/** Retransmissions of one chunk at most; TCP would retry longer, but 6 doublings already pass any test's timeout. */
export const MAX_RETRANSMISSIONS = 6;

/** What becomes of one chunk: released at `at` (ms, same clock as `now`) after `losses` losses, or a reset. */
export type ChunkFate = { kind: 'deliver'; at: number; losses: number } | { kind: 'reset' };

/**
 * The fate of a chunk that arrives at `now` when the chunk before it in the same direction is released at
 * `lastAt`. Draws, in order: reset, delay, then per retransmission a loss draw and, when lost, an RTO draw.
 */
export function chunkFate(impairment: Impairment, lastAt: number, now: number, draw: () => number): ChunkFate {
  if (draw() < impairment.resetRate) return { kind: 'reset' };
  let at = now + uniform(impairment.delayMs, draw());
  let losses = 0;
  while (losses < MAX_RETRANSMISSIONS && draw() < impairment.lossRate) {
    at += uniform(impairment.rtoMs, draw()) * 2 ** losses;
    losses += 1;
  }
  // Order kept per direction: a chunk never overtakes the one before it (netem's jitter without reordering).
  return { kind: 'deliver', at: Math.max(at, lastAt), losses };
}


function uniform([low, high]: readonly [number, number], u: number): number {
  return Math.round(low + (high - low) * u);
}

/** A small seeded PRNG (mulberry32), uniform in [0, 1): a failing run's seed replays its draws. */
export const seededDraw: (seed: number) => () => number = mulberry32;
