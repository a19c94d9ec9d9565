// Leave-one-out selection of settings, shared by the Loghub and NAB conformance tests.
//
// Every candidate setting is scored once on every group (a Loghub dataset, a NAB category); then,
// for each group in turn, the setting with the best objective over the OTHER groups is chosen and
// its score on the held-out group is that group's leave-one-out figure. The shipped default must be
// the setting the same selection picks with nothing held out: so the defaults are the product of
// the rule, and the leave-one-out figures say how that rule does on a group it never saw.
//
// Ties (equal objective on the training groups) go to the earlier candidate: callers list the
// candidates in order of preference stated in advance (the general-shape rules on, the prior
// defaults first), so a tie never picks a setting for fitting the training data by chance.

export interface LooFold<C> {
  heldOut: string;
  chosen: C;
  chosenIndex: number;
}

/**
 * `scores[c][g]`: candidate c's score on group g (any numbers; higher is better). `objective`
 * turns the per-group scores of the training groups into the figure to maximise.
 */
export function leaveOneOut<C>(
  candidates: C[],
  groups: string[],
  scores: number[][],
  objective: (perGroup: number[], groupIdx: number[]) => number,
): { folds: Array<LooFold<C>>; all: LooFold<C> } {
  const pick = (train: number[]): number => {
    let best = -1;
    let bestV = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < candidates.length; c++) {
      const row = scores[c] as number[];
      const v = objective(
        train.map((g) => row[g] as number),
        train,
      );
      if (v > bestV + 1e-12) {
        best = c;
        bestV = v;
      }
    }
    return best;
  };
  const idx = groups.map((_, i) => i);
  const folds = groups.map((g, i) => {
    const c = pick(idx.filter((j) => j !== i));
    return { heldOut: g, chosen: candidates[c] as C, chosenIndex: c };
  });
  const c = pick(idx);
  return { folds, all: { heldOut: "", chosen: candidates[c] as C, chosenIndex: c } };
}

/** All combinations of the given option values, the first value of each option first. */
export function grid<T extends Record<string, unknown>>(options: { [K in keyof T]: T[K][] }): T[] {
  let out: Array<Partial<T>> = [{}];
  for (const key of Object.keys(options) as Array<keyof T>) {
    const next: Array<Partial<T>> = [];
    for (const partial of out) for (const v of options[key]) next.push({ ...partial, [key]: v });
    out = next;
  }
  return out as T[];
}
