// Online template mining: every message → a signature (masked token sequence, see tokenize.ts),
// signatures → templates by a periodic refine step.
//
// Why two levels. Matching a message against templates token by token (Drain's tree walk plus a
// similarity score) costs a loop per line and needs a per-source similarity threshold. A hash
// lookup of the masked message is one Map probe, and after masking most lines of a busy template
// hit an existing signature. What masking cannot see (parameters without digits: user names,
// host names, paths, enum-like words) is recovered by `refine`, which works on the few distinct
// signatures rather than on lines, so it can afford to look at whole columns:
//
//  1. a signature's columns are its tokens, a run of bare `<*>` counting as one column (a list
//     parameter of any length), and signatures are partitioned by column count and first token
//     (a template's first token is nearly always constant once digits are masked);
//  2. in a partition, a column whose values all equal is constant; a column is a *parameter* when
//     one of its values is a masked parameter shape holding every other value (`<*>` next to
//     `admin`, `host=<*>` next to `host=example.org`: the slot demonstrably holds parameters),
//     or when it has VARIABLE_MIN_DISTINCT or more distinct values, unless it moves in lockstep
//     with another such column (one determines the other, as in "read error" / "write failure" /
//     "seek timeout"), which marks a phrase that differs between templates;
//  3. otherwise split the partition by the column with the fewest distinct values (IPLoM's
//     heuristic: few values = template words) and repeat inside each part, remembering which
//     columns were found to be parameters so that a part never splits on them;
//  4. each final part is a template: constant columns keep their word, parameter columns become
//     `<*>` (keeping a shared `key=` / `(` / `)` around the value, so `user=alice` and `user=bob`
//     give `user=<*>`); parts with equal template text are one template.
//
// The per-line path builds no string for a known signature: the mask scan leaves the masked message
// as pieces of the input (tokenize.ts, MaskedMessage), which are looked up first by a cheap shape
// fingerprint (the signature last seen with that shape), then by a hash of the masked text, and
// always confirmed by comparing the pieces with the stored key's code units. Only a new signature
// gets its key string built.
//
// Ids are a hash of the template text, so the same template has the same id in every run and
// after a persistence round trip. Memory is bounded by a cap on signatures (each template holds at
// least one), evicting the least recently seen.

import { DEFAULT_MASK_RULES, hashKey, keyCodes, MaskedMessage, WILDCARD } from "./tokenize.js";

/** Slots of the miner's shape cache, direct-mapped by fingerprint (it only saves work; see observeRange). */
const SHAPE_SLOTS = 1 << 10;

/** A column with at least this many distinct values in a partition holds a parameter. */
export const VARIABLE_MIN_DISTINCT = 4;

/**
 * The miner's settings. Every default is the choice of a leave-one-out selection over the
 * Loghub-2k reference sets (test/conformance/loghub.test.ts): the setting that scores best on
 * seven sets is scored on the eighth, in turn, and the defaults are what the selection picks on
 * all eight. They are exposed for that selection and for tests, not for per-source tuning.
 */
export interface MinerSettings {
  /** Masking rules, bits of MASK in tokenize.ts. */
  maskRules: number;
  /** A column with at least this many distinct values in a group holds a parameter. */
  minDistinct: number;
  /** Partition signatures by their first token as well as their width (Drain's first level). */
  firstTokenPartition: boolean;
  /** Merge templates that differ only in a many-valued first word (see `mergeFirstTokens`). */
  firstTokenMerge: boolean;
  /** A many-valued column tied one-to-one to another is a phrase that differs between templates. */
  lockstep: boolean;
  /** A parenthesised lone parameter or empty parentheses (`(<*>)`, `()`: `N bytes (1.2 KB) sent`,
   * `from HOST (IP)` / `from HOST ()`) is an optional aside, not a column. */
  asides: boolean;
}

export const DEFAULT_MINER_SETTINGS: Readonly<MinerSettings> = Object.freeze({
  maskRules: DEFAULT_MASK_RULES,
  minDistinct: VARIABLE_MIN_DISTINCT,
  firstTokenPartition: true,
  firstTokenMerge: true,
  lockstep: true,
  asides: true,
});

export interface MinerOptions {
  /** Overrides of the default settings (leave-one-out selection and tests only). */
  settings?: Partial<MinerSettings>;
  /** Cap on stored signatures (hence on templates); the least recently seen go first. Default 10,000. */
  maxTemplates?: number;
  /** Called for each evicted signature, with the template it had (the CLI keeps its lines' rows). */
  onEvict?: (signature: number, template: MinedTemplate) => void;
}

/** The template a message belongs to. */
export interface MinedTemplate {
  /** Stable id: a hash of the template text. */
  id: string;
  /** The message with `<*>` where the parameters were. */
  template: string;
}

/** A template with its statistics. */
export interface TemplateInfo extends MinedTemplate {
  /** Lines seen (over the signatures currently stored). */
  count: number;
  /** Distinct signatures merged into this template. */
  signatures: number;
}

/** What `toJSON` returns and `fromJSON` takes: signatures with their counts, oldest use first. */
export interface MinerSnapshot {
  version: 1;
  maxTemplates: number;
  /** [signature, count] pairs, least recently used first. */
  signatures: Array<[string, number]>;
}

interface Signature {
  key: string;
  /** hashKey(key), and the next signature with the same hash (a chain in `byHash`). */
  hash: number;
  next: Signature | undefined;
  /** The key's code units, for MaskedMessage.equals (2 bytes a character beside the key). */
  codes: Uint16Array;
  tokens: string[];
  count: number;
  lastSeen: number;
  index: number;
  template: Template | undefined;
}

interface Template {
  id: string;
  text: string;
  /** Tokens; `null` marks a parameter column (the text holds its shape). */
  tokens: Array<string | null>;
  count: number;
  signatures: number;
}

/** Online template miner: `observe`/`match` per message, `refine` to regroup, `toJSON` to persist. */
export class TemplateMiner {
  readonly maxTemplates: number;
  private readonly onEvict: MinerOptions["onEvict"];
  readonly settings: Readonly<MinerSettings>;
  private readonly byKey = new Map<string, Signature>();
  /** The same signatures by hash of their key, so that `observe` finds one without building its key. */
  private readonly byHash = new Map<number, Signature>();
  private readonly masked = new MaskedMessage();
  /** The signature last matched per MaskedMessage.fingerprint, one slot per fingerprint's low
   * bits (a cache: an entry may be stale or belong to another fingerprint; `equals` decides). */
  private readonly byShape: Array<Signature | undefined> = new Array(SHAPE_SLOTS).fill(undefined);
  private readonly byIndex: Array<Signature | undefined> = [];
  /** Templates by partition key (token count + first token), for matching new signatures. */
  private partitions = new Map<string, Template[]>();
  private tick = 0;
  private newSinceRefine = 0;

  constructor(opts: MinerOptions = {}) {
    this.maxTemplates = Math.max(1, opts.maxTemplates ?? 10_000);
    this.onEvict = opts.onEvict;
    this.settings = { ...DEFAULT_MINER_SETTINGS, ...opts.settings };
  }

  /**
   * Records one message and returns its signature handle (a small integer, stable until the
   * signature is evicted). The hot path: one mask pass and, for a known signature, one comparison
   * with the signature its shape last matched (else a hash of the masked pieces and a Map probe);
   * the masked text is built only for a new signature.
   */
  observe(message: string): number {
    return this.observeRange(message, 0, message.length);
  }

  /**
   * `observe` for the message text[from, to) (a line inside a chunk of a file): the same result
   * as `observe(text.slice(from, to))`, with no slice made for a known signature.
   */
  observeRange(text: string, from: number, to: number): number {
    const m = this.masked.maskRange(text, from, to, this.settings.maskRules);
    // Most messages repeat the shape of a recent one: try the signature last seen with this
    // fingerprint before hashing the whole text (a live signature, and `equals` decides).
    const slot = m.fingerprint & (SHAPE_SLOTS - 1);
    const seen = this.byShape[slot];
    if (seen !== undefined && this.byIndex[seen.index] === seen && m.equals(seen.codes))
      return this.hit(seen);
    const hash = m.hash();
    let sig = this.byHash.get(hash);
    while (sig !== undefined && !m.equals(sig.codes)) sig = sig.next;
    const idx = sig !== undefined ? this.hit(sig) : this.add(m.toString(), hash);
    this.byShape[slot] = this.byIndex[idx];
    return idx;
  }

  /** Like `observe`, for a message already masked by `maskMessage`. */
  observeKey(key: string): number {
    const hit = this.byKey.get(key);
    return hit !== undefined ? this.hit(hit) : this.add(key, hashKey(key));
  }

  private hit(sig: Signature): number {
    sig.count++;
    sig.lastSeen = ++this.tick;
    return sig.index;
  }

  private add(key: string, hash: number): number {
    const sig: Signature = {
      key,
      hash,
      next: this.byHash.get(hash),
      codes: keyCodes(key),
      tokens: columns(key, this.settings.asides),
      count: 1,
      lastSeen: ++this.tick,
      index: this.byIndex.length,
      template: undefined,
    };
    this.byKey.set(key, sig);
    this.byHash.set(hash, sig);
    this.byIndex.push(sig);
    this.newSinceRefine++;
    if (this.byKey.size > this.maxTemplates) this.evict();
    return sig.index;
  }

  /** Records a message and returns its template (refining first when many new signatures arrived). */
  match(message: string): MinedTemplate {
    const idx = this.observe(message);
    if (this.newSinceRefine >= Math.max(8, this.byKey.size >> 3)) this.refine();
    return this.templateOf(idx);
  }

  /** `observe` plus `match`'s refine trigger, returning the handle (the in-process tap's entry). */
  observeRefining(message: string): number {
    const idx = this.observe(message);
    if (this.newSinceRefine >= Math.max(8, this.byKey.size >> 3)) this.refine();
    return idx;
  }

  /**
   * Counts `n` more occurrences of a known signature and marks it recently used, for callers that
   * cache message → handle and report their hits in batches (so eviction still sees them as hot).
   */
  touch(signature: number, n: number): void {
    const sig = this.byIndex[signature];
    if (sig === undefined) return;
    sig.count += n;
    sig.lastSeen = ++this.tick;
  }

  /** The current template of a signature handle from `observe`. */
  templateOf(signature: number): MinedTemplate {
    const sig = this.byIndex[signature];
    if (sig === undefined) return { id: "", template: "" };
    const t = sig.template ?? this.provisional(sig);
    return { id: t.id, template: t.text };
  }

  /** Signature handles issued so far (handles are 0 … this − 1; evicted ones answer `templateOf` with ""). */
  get signaturesEverSeen(): number {
    return this.byIndex.length;
  }

  /** Number of stored signatures. */
  get size(): number {
    return this.byKey.size;
  }

  /** Regroups all stored signatures into templates (see the file comment). */
  refine(): void {
    this.newSinceRefine = 0;
    const parts = new Map<string, Signature[]>();
    for (const sig of this.byKey.values()) {
      const k = partitionKey(sig.tokens, this.settings.firstTokenPartition);
      const list = parts.get(k);
      if (list === undefined) parts.set(k, [sig]);
      else list.push(sig);
    }
    const byText = new Map<string, Template>();
    const partitions = new Map<string, Template[]>();
    for (const [k, sigs] of parts) {
      // Sorted so that the result does not depend on arrival order (ids stay stable across runs).
      sigs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const width = sigs[0]?.tokens.length ?? 0;
      const leaves: Signature[][] = [];
      splitPartition(sigs, width, new Uint8Array(width), leaves, this.settings);
      const inPart: Template[] = [];
      for (const leaf of leaves) {
        const tokens = generalize(leaf, width);
        const text = tokens.map((t) => t.text).join(" ");
        let t = byText.get(text);
        if (t === undefined) {
          t = {
            id: templateId(text),
            text,
            tokens: tokens.map((x) => (x.param ? null : x.text)),
            count: 0,
            signatures: 0,
          };
          byText.set(text, t);
        }
        if (!inPart.includes(t)) inPart.push(t);
        for (const sig of leaf) {
          sig.template = t;
          t.count += sig.count;
          t.signatures++;
        }
      }
      partitions.set(k, inPart);
    }
    if (this.settings.firstTokenMerge && this.settings.firstTokenPartition) this.mergeFirstTokens(partitions);
    this.partitions = partitions;
  }

  /**
   * The first token partitions signatures, which is right when it is a word of the template and
   * wrong when it is a parameter that masking cannot see (a program or component name). Templates
   * identical but for their first word, with at least three constant words after it, merge when
   * that first word takes `minDistinct` or more values: the same variability rule as any column.
   */
  private mergeFirstTokens(partitions: Map<string, Template[]>): void {
    const groups = new Map<string, Template[]>();
    for (const list of partitions.values()) {
      for (const t of list) {
        if (t.tokens.length < 3 || t.tokens[0] === null) continue;
        let words = 0;
        for (let i = 1; i < t.tokens.length; i++) if (t.tokens[i] !== null) words++;
        if (words < 3) continue;
        const rest = `${t.tokens.length}\u0000${t.text.slice(t.text.indexOf(" ") + 1)}`;
        const g = groups.get(rest);
        if (g === undefined) groups.set(rest, [t]);
        else if (!g.includes(t)) g.push(t);
      }
    }
    const into = new Map<Template, Template>();
    for (const g of groups.values()) {
      if (g.length < this.settings.minDistinct) continue;
      const first = g[0] as Template;
      const text = `${WILDCARD} ${first.text.slice(first.text.indexOf(" ") + 1)}`;
      const merged: Template = {
        id: templateId(text),
        text,
        tokens: [null, ...first.tokens.slice(1)],
        count: 0,
        signatures: 0,
      };
      for (const t of g) {
        into.set(t, merged);
        merged.count += t.count;
        merged.signatures += t.signatures;
      }
    }
    if (into.size === 0) return;
    for (const sig of this.byKey.values()) {
      const m = sig.template === undefined ? undefined : into.get(sig.template);
      if (m !== undefined) sig.template = m;
    }
    for (const [k, list] of partitions) {
      const out: Template[] = [];
      for (const t of list) {
        const m = into.get(t) ?? t;
        if (!out.includes(m)) out.push(m);
      }
      partitions.set(k, out);
    }
  }

  /** All templates, most frequent first (refines first if anything changed). */
  templates(): TemplateInfo[] {
    if (this.newSinceRefine > 0) this.refine();
    const out = new Map<Template, TemplateInfo>();
    for (const sig of this.byKey.values()) {
      const t = sig.template;
      if (t === undefined) continue;
      const info = out.get(t);
      if (info === undefined) out.set(t, { id: t.id, template: t.text, count: sig.count, signatures: 1 });
      else {
        info.count += sig.count;
        info.signatures++;
      }
    }
    return [...out.values()].sort((a, b) => b.count - a.count || (a.template < b.template ? -1 : 1));
  }

  /** A snapshot to persist: enough to rebuild the same templates with the same ids. */
  toJSON(): MinerSnapshot {
    const sigs = [...this.byKey.values()].sort((a, b) => a.lastSeen - b.lastSeen);
    return { version: 1, maxTemplates: this.maxTemplates, signatures: sigs.map((s) => [s.key, s.count]) };
  }

  /** Rebuilds a miner from `toJSON` output (unknown or malformed entries are skipped). */
  static fromJSON(snapshot: MinerSnapshot, opts: MinerOptions = {}): TemplateMiner {
    const m = new TemplateMiner({ maxTemplates: opts.maxTemplates ?? snapshot.maxTemplates, ...opts });
    if (snapshot?.version !== 1 || !Array.isArray(snapshot.signatures)) return m;
    for (const entry of snapshot.signatures) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "number") continue;
      const idx = m.observeKey(entry[0]);
      const sig = m.byIndex[idx];
      if (sig !== undefined) sig.count += Math.max(0, Math.floor(entry[1])) - 1;
    }
    m.refine();
    return m;
  }

  /** Drops the least recently seen signatures down to 90 % of the cap (in one batch, so that a
   * stream of new signatures costs an amortised O(log n) each rather than a scan per message). */
  private evict(): void {
    const keep = Math.max(1, Math.floor(this.maxTemplates * 0.9));
    const all = [...this.byKey.values()].sort((a, b) => a.lastSeen - b.lastSeen);
    for (let i = 0; i < all.length - keep; i++) {
      const sig = all[i] as Signature;
      if (this.onEvict !== undefined) this.onEvict(sig.index, this.templateOf(sig.index));
      this.byKey.delete(sig.key);
      this.unlinkHash(sig);
      this.byIndex[sig.index] = undefined;
      if (sig.template !== undefined) {
        sig.template.count -= sig.count;
        sig.template.signatures--;
      }
    }
  }

  /** Takes `sig` out of its `byHash` chain. */
  private unlinkHash(sig: Signature): void {
    const head = this.byHash.get(sig.hash);
    if (head === sig) {
      if (sig.next === undefined) this.byHash.delete(sig.hash);
      else this.byHash.set(sig.hash, sig.next);
      return;
    }
    for (let s = head; s !== undefined; s = s.next) {
      if (s.next === sig) {
        s.next = sig.next;
        return;
      }
    }
  }

  /** Template for a signature not yet seen by `refine`: an existing template of its partition
   * that it fits, else the signature itself. */
  private provisional(sig: Signature): Template {
    const cands = this.partitions.get(partitionKey(sig.tokens, this.settings.firstTokenPartition));
    if (cands !== undefined) {
      for (const t of cands) if (fits(t, sig.tokens)) return t;
    }
    const t: Template = {
      id: templateId(sig.key),
      text: sig.key,
      tokens: sig.tokens,
      count: 0,
      signatures: 0,
    };
    return t;
  }
}

/**
 * A signature's columns: its tokens, with each run of bare `<*>` tokens as one column. A list
 * parameter (`delete item_1 item_2 item_3`) then has the same width whatever its length.
 */
function columns(key: string, asides: boolean): string[] {
  if (key === "") return [];
  const toks = key.split(" ");
  const aside = asides && (key.includes(ASIDE) || key.includes(EMPTY_ASIDE));
  if (!aside && !key.includes(`${WILDCARD} ${WILDCARD}`)) return toks;
  const out: string[] = [];
  for (const t of toks) {
    if (aside && (t === ASIDE || t === EMPTY_ASIDE)) continue;
    if (t !== WILDCARD || out[out.length - 1] !== WILDCARD) out.push(t);
  }
  return out;
}

/** A parenthesised lone parameter: `(1.2 KB)`, `(3/4)` after masking; or the same slot empty. */
const ASIDE = `(${WILDCARD})`;
const EMPTY_ASIDE = "()";

function fits(t: Template, tokens: string[]): boolean {
  if (t.tokens.length !== tokens.length) return false;
  for (let i = 0; i < tokens.length; i++) {
    const c = t.tokens[i];
    if (c !== null && c !== tokens[i]) return false;
  }
  return true;
}

function partitionKey(tokens: string[], firstToken: boolean): string {
  return firstToken ? `${tokens.length} ${tokens[0] ?? ""}` : `${tokens.length}`;
}

const FREE = 0;
const PARAM = 1; // the shape rule: a masked parameter sits in this column
const MANY = 2; // many distinct values: a parameter unless tied to another such column

/**
 * Recursively splits `sigs` (same width) into template groups. `mark[c]` carries what was found
 * about column c higher up: a part never splits on a parameter column, otherwise a user-name
 * column would split as soon as a part happened to hold only two names.
 */
function splitPartition(
  sigs: Signature[],
  width: number,
  mark: Uint8Array,
  out: Signature[][],
  settings: MinerSettings,
): void {
  if (sigs.length === 1) {
    out.push(sigs);
    return;
  }
  const cols: Column[] = [];
  let childMark = mark;
  const remark = (c: number, m: number) => {
    if (childMark === mark) childMark = mark.slice();
    childMark[c] = m;
  };
  for (let c = 0; c < width; c++) {
    if (mark[c] === PARAM) continue;
    const values = new Map<string, Signature[]>();
    for (const s of sigs) {
      const v = s.tokens[c] as string;
      const l = values.get(v);
      if (l === undefined) values.set(v, [s]);
      else l.push(s);
    }
    if (values.size === 1) continue;
    if (isParameterColumn(values.keys())) {
      remark(c, PARAM);
      continue;
    }
    if (mark[c] === FREE && values.size >= settings.minDistinct) remark(c, MANY);
    cols.push({ c, values, many: childMark[c] === MANY });
  }
  let best: Column | undefined;
  for (const col of cols) {
    // Many distinct values make a parameter, unless the column moves in lockstep with another
    // one: then both are words of a phrase that differs between templates
    // ("read error" / "write failure" / "seek timeout").
    if (col.many && !(settings.lockstep && tiedToAnother(col, cols, sigs, settings.minDistinct))) continue;
    if (best === undefined || col.values.size < best.values.size) best = col;
  }
  if (best === undefined) {
    out.push(sigs);
    return;
  }
  for (const part of best.values.values()) splitPartition(part, width, childMark, out, settings);
}

interface Column {
  c: number;
  values: Map<string, Signature[]>;
  many: boolean;
}

/**
 * True when another many-valued column is (nearly) in one-to-one relation with `col`: as many
 * distinct pairs as the larger value count, one of the two counts at VARIABLE_MIN_DISTINCT or
 * more, and some pairs repeat.
 */
function tiedToAnother(col: Column, cols: Column[], sigs: Signature[], minDistinct: number): boolean {
  for (const other of cols) {
    if (other === col || !other.many) continue;
    const most = Math.max(col.values.size, other.values.size);
    if (most < minDistinct) continue;
    const pairs = new Set<string>();
    let lines = 0;
    for (const s of sigs) {
      pairs.add(`${s.tokens[col.c]}\u0000${s.tokens[other.c]}`);
      lines += s.count;
    }
    if (pairs.size === most && lines > pairs.size) return true;
  }
  return false;
}

/**
 * True when the column's values show it holds parameters: some value is a masked parameter shape
 * (`<*>`, `uid=<*>`, `open(<*>)`) that holds every other value of the column (a literal in its
 * wildcard, or another shape).
 */
function isParameterColumn(values: Iterable<string>): boolean {
  const shapes: Array<[string, string]> = [];
  const all: string[] = [];
  for (const v of values) {
    all.push(v);
    const a = v.indexOf(WILDCARD);
    if (a >= 0) shapes.push([v.slice(0, a), v.slice(v.lastIndexOf(WILDCARD) + WILDCARD.length)]);
  }
  for (const [p, s] of shapes) {
    let ok = true;
    for (const v of all) {
      if (!(v.length >= p.length + s.length && v.startsWith(p) && v.endsWith(s))) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

// Punctuation that may stay around a parameter in a template column (`user=<*>`, `(<*>)`).
const KEEP = new Set("=:,;()[]{}\"'|@");

/** Template tokens of a final group: constant columns keep their word, others become a parameter. */
function generalize(sigs: Signature[], width: number): Array<{ text: string; param: boolean }> {
  const first = sigs[0] as Signature;
  const out: Array<{ text: string; param: boolean }> = [];
  for (let c = 0; c < width; c++) {
    const v0 = first.tokens[c] as string;
    let same = true;
    for (let i = 1; i < sigs.length; i++) {
      if ((sigs[i] as Signature).tokens[c] !== v0) {
        same = false;
        break;
      }
    }
    if (same) {
      out.push({ text: v0, param: v0.includes(WILDCARD) });
      continue;
    }
    // Keep the longest common prefix ending in punctuation and suffix starting with it.
    let pre = v0.length;
    let suf = v0.length;
    for (let i = 1; i < sigs.length; i++) {
      const v = (sigs[i] as Signature).tokens[c] as string;
      let k = 0;
      while (k < pre && k < v.length && v.charCodeAt(k) === v0.charCodeAt(k)) k++;
      pre = k;
      k = 0;
      while (k < suf && k < v.length && v.charCodeAt(v.length - 1 - k) === v0.charCodeAt(v0.length - 1 - k))
        k++;
      suf = k;
    }
    let p = pre;
    while (p > 0 && !KEEP.has(v0.charAt(p - 1))) p--;
    let s = suf;
    while (s > 0 && !KEEP.has(v0.charAt(v0.length - s))) s--;
    if (p + s > v0.length) s = v0.length - p;
    let prefix = v0.slice(0, p);
    let suffix = v0.slice(v0.length - s);
    // A kept prefix/suffix must not cut into a wildcard.
    if (prefix.endsWith("<")) prefix = prefix.slice(0, -1);
    if (suffix.startsWith(">")) suffix = suffix.slice(1);
    out.push({ text: `${prefix}${WILDCARD}${suffix}`, param: true });
  }
  return out;
}

/** Stable id of a template text: 64-bit FNV-1a, as 16 hex digits. */
export function templateId(text: string): string {
  // Two 32-bit halves with Math.imul keep this in small integers (no BigInt on the hot path).
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, "0") + (h2 >>> 0).toString(16).padStart(8, "0");
}
