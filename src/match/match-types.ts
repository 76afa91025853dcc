/**
 * Shapes shared by the matching steps: what a run reports besides its bundles, and how a step
 * describes what fits what.
 */

/** Something the user should know that did not stop the run (an ambiguous or unused file). */
export interface MatchWarning {
  /** Stable code, e.g. `W_AMBIGUOUS_LEAD`, `W_UNMATCHED_LEAD`. */
  code: string;
  message: string;
  /** The files concerned, the one the warning is about first. */
  files: string[];
}

/** A file for which nothing is sent (e.g. a manifest whose conversation is missing). */
export interface MatchError {
  file: string;
  reason: string;
}

/**
 * What fits one lead, recording or call at one step: the exact number, and the indices of the first
 * few (all of them when they are few). Counting exactly while listing only a few keeps pathological
 * inputs (thousands of calls with the same time) linear, since only a count of 1 needs the identity.
 */
export interface Fit {
  count: number;
  ids: number[];
}

/** How many ids a Fit lists at most; enough to name the competitors in a warning. */
export const FIT_LIST_CAP = 8;
