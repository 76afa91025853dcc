/**
 * One step of matching for all calls of a run together (docs/architecture.md "Matching"), shared by leads and
 * recordings (the "subjects"). The rule, applied at every step, strongest step first:
 *
 * - A subject (lead or recording) is decided at the first step where it fits any call. It is attached
 *   when it fits exactly one call, that call has not been decided at an earlier step, and that call
 *   fits no other undecided subject at this step. Otherwise it stays unattached for the whole run: a
 *   weaker step must not settle what a stronger one found doubtful (a lead whose session id names two
 *   calls is not then given to one of them because of its time).
 * - A subject's fits count every call of the run, including calls that already got a subject at an
 *   earlier step: a call can produce two leads, so a call that has one is still a possible origin, and
 *   guessing the other call would repeat the old bug of attaching a lead to a call it did not come
 *   from. Such a call is never a receiver, though ("no longer a candidate").
 * - A call's fits count only subjects still undecided: a subject attached elsewhere certainly belongs
 *   to its call. A call that fits any of them at a step is decided at that step too, with or without a
 *   subject; a call fitting two gets none (and a lead built from its own `create_lead`, if any).
 */
import { FIT_LIST_CAP, type Fit, type MatchWarning } from './match-types.ts';

/** Who got what so far, for one kind of subject across all steps of a run. */
export interface Assignment {
  /** Per subject: index of the call it went to, or -1. */
  callOf: Int32Array;
  /** Per call: index of the subject it got, or -1. */
  subjectOf: Int32Array;
  /** Per subject: 1 once a step has decided it (attached or not). */
  subjectDecided: Uint8Array;
  /** Per call: 1 once a step has decided it. */
  callDecided: Uint8Array;
  /** Per call: the name of the step that attached its subject. */
  stepOf: (string | null)[];
  /** Per subject left unattached by a step: why, for the run's warnings. */
  whyNot: (string | null)[];
}

/** A fresh assignment: nothing decided. */
export function newAssignment(subjects: number, calls: number): Assignment {
  return {
    callOf: new Int32Array(subjects).fill(-1),
    subjectOf: new Int32Array(calls).fill(-1),
    subjectDecided: new Uint8Array(subjects),
    callDecided: new Uint8Array(calls),
    stepOf: new Array<string | null>(calls).fill(null),
    whyNot: new Array<string | null>(subjects).fill(null),
  };
}

/** How a step and its subjects are named in `matchedBy` and in warnings. */
export interface StepNaming {
  /** The step's name in `CallBundle.matchedBy`, e.g. `session_id`. */
  step: string;
  /** The step in a sentence: "by session id". */
  label: string;
  /** `lead` or `recording`. */
  kind: string;
  /** The warning code of an ambiguous result, e.g. `W_AMBIGUOUS_LEAD`. */
  ambiguousCode: string;
  subjectFile: (subject: number) => string;
  callFile: (call: number) => string;
}

/** The ids a message names: complete lists (steps 1–3) can be long, so only the first few. */
function shown(fit: Fit): number[] {
  return fit.ids.slice(0, FIT_LIST_CAP);
}

/** "a, b and 3 more" from the listed ids of a Fit. */
function listed(fit: Fit, name: (i: number) => string): string {
  const names = shown(fit).map(name);
  const more = fit.count - names.length;
  return more > 0 ? `${names.join(', ')} and ${more} more` : names.join(', ');
}

/**
 * Decide one step. `subjectFits` holds, for undecided subjects that fit at least one call at this
 * step, the calls they fit (all calls of the run); `callFits` holds, for undecided calls that fit at
 * least one of those subjects, the subjects they fit. Mutates `a`; returns the step's ambiguity warnings
 * (subjects in index order, then calls).
 */
export function resolveStep(a: Assignment, subjectFits: ReadonlyMap<number, Fit>, callFits: ReadonlyMap<number, Fit>, naming: StepNaming): MatchWarning[] {
  const warnings: MatchWarning[] = [];
  const { kind, label } = naming;
  const accepted: [number, number][] = [];
  const subjects = [...subjectFits.keys()].filter((s) => a.subjectDecided[s] === 0).sort((x, y) => x - y);
  for (const s of subjects) {
    const fit = subjectFits.get(s)!;
    if (fit.count === 0) continue;
    if (fit.count >= 2) {
      const calls = listed(fit, naming.callFile);
      warnings.push({
        code: naming.ambiguousCode,
        message: `${kind} ${naming.subjectFile(s)} fits ${fit.count} calls ${label} (${calls}); it is attached to none`,
        files: [naming.subjectFile(s), ...shown(fit).map(naming.callFile)],
      });
      a.whyNot[s] = `it fits ${fit.count} calls ${label} (${calls})`;
      continue;
    }
    const c = fit.ids[0]!;
    if (a.callDecided[c] === 1) {
      const other = a.subjectOf[c]!;
      a.whyNot[s] =
        other >= 0
          ? `it fits only call ${naming.callFile(c)} ${label}, which already has ${kind} ${naming.subjectFile(other)}`
          : `it fits only call ${naming.callFile(c)} ${label}, which was left without a ${kind} at a stronger step`;
      continue;
    }
    const back = callFits.get(c);
    if (back !== undefined && back.count === 1) accepted.push([s, c]);
    else a.whyNot[s] = `call ${naming.callFile(c)} fits ${back?.count ?? 0} ${kind}s ${label}`;
  }

  const calls = [...callFits.keys()].filter((c) => a.callDecided[c] === 0).sort((x, y) => x - y);
  for (const c of calls) {
    const fit = callFits.get(c)!;
    if (fit.count >= 2) {
      warnings.push({
        code: naming.ambiguousCode,
        message: `call ${naming.callFile(c)} fits ${fit.count} ${kind}s ${label} (${listed(fit, naming.subjectFile)}); none is attached to it`,
        files: [naming.callFile(c), ...shown(fit).map(naming.subjectFile)],
      });
    }
  }

  for (const s of subjects) if (subjectFits.get(s)!.count > 0) a.subjectDecided[s] = 1;
  for (const c of calls) if (callFits.get(c)!.count > 0) a.callDecided[c] = 1;
  for (const [s, c] of accepted) {
    a.callOf[s] = c;
    a.subjectOf[c] = s;
    a.stepOf[c] = naming.step;
  }
  return warnings;
}

/**
 * The call-side fits of a step whose subject-side fits were listed in full: each undecided call that
 * an undecided subject fits, with those subjects (in subject order).
 */
export function invertFits(a: Assignment, subjectFits: ReadonlyMap<number, Fit>): Map<number, Fit> {
  const out = new Map<number, Fit>();
  const subjects = [...subjectFits.keys()].filter((s) => a.subjectDecided[s] === 0).sort((x, y) => x - y);
  for (const s of subjects) {
    for (const c of subjectFits.get(s)!.ids) {
      if (a.callDecided[c] === 1) continue;
      let fit = out.get(c);
      if (fit === undefined) {
        fit = { count: 0, ids: [] };
        out.set(c, fit);
      }
      fit.count++;
      if (fit.ids.length < FIT_LIST_CAP) fit.ids.push(s);
    }
  }
  return out;
}

/** A Fit listing every id (for steps whose candidate lists are complete). */
export function fitOf(ids: number[]): Fit {
  return { count: ids.length, ids };
}
