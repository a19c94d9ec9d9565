// Go's float formatting (`strconv.FormatFloat` / `fmt` verbs %v %g %e %f), exactly, including
// round-half-even on exact decimal ties, so rendered annotations match Prometheus byte for byte.

interface Digits {
  /** Significant digits without trailing zeros; "" for zero. */
  d: string;
  /** Decimal point position: value = 0.d × 10^dp. */
  dp: number;
}

/** The exact decimal expansion of a finite, non-negative double. */
function exactDigits(x: number): Digits {
  if (x === 0) return { d: "", dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (bexp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = bexp - 1075;
  }
  let d: string;
  let dp: number;
  if (e >= 0) {
    d = (mant << BigInt(e)).toString();
    dp = d.length;
  } else {
    d = (mant * 5n ** BigInt(-e)).toString();
    dp = d.length + e;
  }
  return trim({ d, dp });
}

/** The shortest digits that round-trip (what Go uses for precision -1). */
function shortestDigits(x: number): Digits {
  if (x === 0) return { d: "", dp: 0 };
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (m === null) throw new Error(`cannot format ${x}`);
  return trim({ d: (m[1] ?? "") + (m[2] ?? ""), dp: Number(m[3]) + 1 });
}

function trim(v: Digits): Digits {
  const d = v.d.replace(/0+$/, "");
  return d === "" ? { d: "", dp: 0 } : { d, dp: v.dp };
}

/** Go's decimal.Round(nd): half-even on exact ties, no-op when nd < 0 or beyond the digits. */
function round(v: Digits, nd: number): Digits {
  if (nd < 0 || nd >= v.d.length) return v;
  const c = v.d.charCodeAt(nd) - 48;
  let up: boolean;
  if (c === 5 && nd + 1 === v.d.length) up = nd > 0 && (v.d.charCodeAt(nd - 1) - 48) % 2 === 1;
  else up = c >= 5;
  if (!up) return trim({ d: v.d.slice(0, nd), dp: v.dp });
  let i = nd - 1;
  while (i >= 0 && v.d[i] === "9") i--;
  if (i < 0) return { d: "1", dp: v.dp + 1 };
  return trim({ d: v.d.slice(0, i) + String.fromCharCode(v.d.charCodeAt(i) + 1), dp: v.dp });
}

function digitAt(v: Digits, i: number): string {
  return i >= 0 && i < v.d.length ? (v.d[i] as string) : "0";
}

function fmtE(v: Digits, prec: number, neg: boolean): string {
  let s = neg ? "-" : "";
  s += v.d === "" ? "0" : v.d[0];
  if (prec > 0) {
    s += ".";
    for (let i = 1; i <= prec; i++) s += digitAt(v, i);
  }
  const exp = v.d === "" ? 0 : v.dp - 1;
  const abs = Math.abs(exp);
  return `${s}e${exp < 0 ? "-" : "+"}${abs < 10 ? "0" : ""}${abs}`;
}

function fmtF(v: Digits, prec: number, neg: boolean): string {
  let s = neg ? "-" : "";
  if (v.dp > 0) for (let i = 0; i < v.dp; i++) s += digitAt(v, i);
  else s += "0";
  if (prec > 0) {
    s += ".";
    for (let i = 0; i < prec; i++) s += digitAt(v, v.dp + i);
  }
  return s;
}

function special(x: number, plusInf = true): string | undefined {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return plusInf ? "+Inf" : "Inf";
  if (x === -Infinity) return "-Inf";
  return undefined;
}

function isNeg(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

/** Go's `%g` / `%.Ng`; prec < 0 is the shortest representation (what `%v` prints). */
export function formatG(x: number, prec = -1): string {
  const sp = special(x);
  if (sp !== undefined) return sp;
  const neg = isNeg(x);
  const shortest = prec < 0;
  let v: Digits;
  if (shortest) v = shortestDigits(Math.abs(x));
  else {
    if (prec === 0) prec = 1;
    v = round(exactDigits(Math.abs(x)), prec);
  }
  let p = shortest ? 6 : prec;
  let eprec = p;
  if (eprec > v.d.length && v.d.length >= v.dp) eprec = v.d.length;
  if (shortest) eprec = 6;
  if (shortest) p = v.d.length;
  const exp = v.dp - 1;
  if (exp < -4 || exp >= eprec) {
    if (p > v.d.length) p = v.d.length;
    return fmtE(v, Math.max(p - 1, 0), neg);
  }
  if (p > v.dp) p = v.d.length;
  return fmtF(v, Math.max(p - v.dp, 0), neg);
}

/** Go's `%.Ne` (prec < 0: shortest, as `strconv.FormatFloat(x, 'e', -1, 64)`). */
export function formatE(x: number, prec = 6): string {
  const sp = special(x);
  if (sp !== undefined) return sp;
  const neg = isNeg(x);
  if (prec < 0) {
    const v = shortestDigits(Math.abs(x));
    return fmtE(v, Math.max(v.d.length - 1, 0), neg);
  }
  return fmtE(round(exactDigits(Math.abs(x)), prec + 1), prec, neg);
}

/** Go's `%.Nf`. */
export function formatF(x: number, prec = 6): string {
  const sp = special(x);
  if (sp !== undefined) return sp;
  const v = exactDigits(Math.abs(x));
  return fmtF(round(v, v.dp + prec), prec, isNeg(x));
}
