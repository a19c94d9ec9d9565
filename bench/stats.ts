/**
 * How far a ratio of medians measured over a few interleaved rounds can be trusted.
 *
 * Why: on the 2-core machine the bench runs on, one server process serves 15–20 % more or fewer
 * requests per second than the next one of the same variant (bench/README.md, "Issue 12, session
 * 13"), so a 3-round median ratio moves by ±0.05 between runs of the same code. A PASS or MISS
 * against 0.90 then says as much about the host as about the code; the interval says which.
 *
 * Method: the percentile bootstrap over rounds. Each resample draws n rounds with replacement and
 * takes the same rounds for numerator and denominator (a round's variants ran within a minute of
 * each other, so the host's drift cancels in the pair), then the ratio of the two medians. The
 * random numbers are seeded: the same measurements always give the same interval.
 */
import { mulberry32 } from "../test/support/prng.js";

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) throw new RangeError("median of no values");
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export interface RatioInterval {
  /** median(num) / median(den) over all rounds. */
  ratio: number;
  low: number;
  high: number;
  /** Central share of the resampled ratios between low and high (0.9: 5th to 95th percentile). */
  level: number;
  rounds: number;
}

/**
 * The ratio of medians `median(num) / median(den)` and its bootstrap interval; `num[i]` and
 * `den[i]` are round i's values. Rounds where either is missing are left out.
 */
export function ratioOfMedians(
  num: ReadonlyArray<number | undefined>,
  den: ReadonlyArray<number | undefined>,
  opts: { level?: number; resamples?: number; seed?: number } = {},
): RatioInterval {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < Math.min(num.length, den.length); i++) {
    const x = num[i];
    const y = den[i];
    if (x !== undefined && y !== undefined) pairs.push([x, y]);
  }
  if (pairs.length === 0) throw new RangeError("ratio of medians: no round has both values");
  const level = opts.level ?? 0.9;
  const resamples = opts.resamples ?? 2000;
  const random = mulberry32(opts.seed ?? 1);
  const ratio = median(pairs.map((p) => p[0])) / median(pairs.map((p) => p[1]));
  const n = pairs.length;
  const xs = new Array<number>(n);
  const ys = new Array<number>(n);
  const ratios: number[] = [];
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const p = pairs[Math.floor(random() * n)] as [number, number];
      xs[i] = p[0];
      ys[i] = p[1];
    }
    ratios.push(median(xs) / median(ys));
  }
  ratios.sort((a, b) => a - b);
  const at = (q: number) => ratios[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))] as number;
  return { ratio, low: at((1 - level) / 2), high: at(1 - (1 - level) / 2), level, rounds: n };
}

/**
 * Fewer rounds than this show too little of the spread for their interval to mean much (two
 * rounds give three distinct resamples): the verdict is then "too few".
 */
export const MIN_ROUNDS = 5;

/**
 * What the interval says about `ratio >= target`: met or missed beyond the rounds' spread
 * ("clear"), within it ("unclear": more rounds tell), or too few rounds to say.
 */
export function verdict(i: RatioInterval, target: number): "clear" | "unclear" | "too few" {
  if (i.rounds < MIN_ROUNDS) return "too few";
  return i.low >= target || i.high < target ? "clear" : "unclear";
}

/** "0.832 (90 % interval over 3 rounds 0.790–0.881)" */
export function formatInterval(i: RatioInterval): string {
  return (
    `${i.ratio.toFixed(3)} (${Math.round(i.level * 100)} % interval over ${i.rounds} round` +
    `${i.rounds === 1 ? "" : "s"} ${i.low.toFixed(3)}–${i.high.toFixed(3)})`
  );
}
