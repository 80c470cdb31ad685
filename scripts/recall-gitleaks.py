#!/usr/bin/env python3
"""Recall of `keel redact` on gitleaks' own rule samples.

Usage: scripts/recall-gitleaks.py GITLEAKS_CHECKOUT [--keel target/release/keel] [-v]
                                  [--show-missed RULE] [--show-fp]

gitleaks (https://github.com/gitleaks/gitleaks) defines every rule in a Go file under
`cmd/generate/config/rules/` together with true-positive (`tps`) and false-positive
(`fps`) sample lines, most of them built by helper calls such as
`utils.GenerateSampleSecrets("id", secrets.NewSecret(`regex`))`. This script reads
those Go files from a checkout (nothing of gitleaks is stored in keel), evaluates the
common expression forms with a small interpreter (string literals, `+`, `[]string{}`,
`append`, `fmt.Sprintf`, the `utils.*` pattern helpers, and `secrets.NewSecret` by
generating a random string from the regex, seeded so runs repeat), feeds every sample
through the keel binary and prints:

* overall recall: true-positive samples keel changed, and of those the ones where the
  secret itself (the match of the rule's regex from `config/gitleaks.toml`, secret
  group) no longer appears in the output;
* recall for rules whose regex starts with a fixed literal prefix of >= 3 bytes
  (provider tokens);
* per-rule recall (with -v, or the rules below 100%);
* false-positive samples changed by keel, split by whether any gitleaks rule regex
  matches them;
* what could not be extracted, counted honestly (expressions the interpreter does not
  handle, loops, path-based samples).
"""

import argparse
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import base64
import os
import random
import re
import sre_constants  # noqa: E402
import sre_parse  # noqa: E402
import subprocess
import sys
import tomllib

RNG = random.Random(12)

# ---------------------------------------------------------------- Go tokens


TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])+')
  | (?P<num>\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>\.\.\.|:=|\+=|==|!=|&&|\|\||<-|[-+*/%(){}\[\],;:=.<>!&|^])
    """,
    re.S | re.X,
)


def tokenize(src):
    toks = []
    pos = 0
    while pos < len(src):
        m = TOKEN_RE.match(src, pos)
        if not m:
            toks.append(("op", src[pos]))
            pos += 1
            continue
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            if kind == "ws" and "\n" in m.group():
                toks.append(("nl", "\n"))
            continue
        toks.append((kind, m.group()))
    return toks


GO_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "a": "\a",
          "b": "\b", "f": "\f", "v": "\v"}


def go_string(lit):
    if lit.startswith("`"):
        return lit[1:-1].replace("\r", "")
    body = lit[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in GO_ESC:
            out.append(GO_ESC[n])
            i += 2
        elif n == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif n == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif n in "01234567":
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise Unsupported("escape \\" + n)
    return "".join(out)


class Unsupported(Exception):
    pass


# ------------------------------------------------------- strings from regexes


def go_to_py_regex(rx):
    rx = rx.replace(r"\z", r"\Z")
    for name, cls in (("alnum", "A-Za-z0-9"), ("alpha", "A-Za-z"), ("digit", "0-9"),
                      ("upper", "A-Z"), ("lower", "a-z"), ("xdigit", "0-9A-Fa-f"),
                      ("space", r" \t\r\n\v\f"), ("punct", r"!-/:-@\[-`{-~"),
                      ("word", r"\w")):
        rx = rx.replace("[:%s:]" % name, cls)
    # Go allows flags in the middle of a pattern; Python only at the start (this
    # widens case-insensitivity to the whole pattern: fine for these samples).
    if "(?i)" in rx[1:]:
        rx = "(?i)" + rx.replace("(?i)", "")
    rx = re.sub(r"\\p\{?L\}?", "a-zA-Z", rx)
    return rx


CATS = {
    sre_constants.CATEGORY_DIGIT: "0123456789",
    sre_constants.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: "abcdefghijklmnopqrstuvwxyz0123456789",
    sre_constants.CATEGORY_NOT_DIGIT: "abcdefghijklmnopqrstuvwxyz",
    sre_constants.CATEGORY_NOT_WORD: "-",
}
PRINTABLE = [chr(c) for c in range(33, 127)]


def class_chars(items):
    chars = []
    negate = False
    for op, av in items:
        if op == sre_constants.NEGATE:
            negate = True
        elif op == sre_constants.LITERAL:
            chars.append(chr(av))
        elif op == sre_constants.RANGE:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        elif op == sre_constants.CATEGORY:
            chars.extend(CATS.get(av, "a"))
    if negate:
        chars = [c for c in PRINTABLE if c not in chars and c.isalnum()]
    return [c for c in chars if c != "\n"] or ["a"]


def gen(parsed, flags=0):
    out = []
    for op, av in parsed:
        if op == sre_constants.LITERAL:
            out.append(chr(av))
        elif op == sre_constants.NOT_LITERAL:
            out.append(RNG.choice([c for c in "abcdefghijk" if ord(c) != av]))
        elif op == sre_constants.ANY:
            out.append(RNG.choice("abcdefghijklmnopqrstuvwxyz0123456789"))
        elif op == sre_constants.IN:
            out.append(RNG.choice(class_chars(av)))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            lo, hi, sub = av
            if hi == sre_constants.MAXREPEAT:
                hi = lo + 10
            n = RNG.randint(lo, hi)
            for _ in range(n):
                out.append(gen(sub, flags))
        elif op == sre_constants.SUBPATTERN:
            out.append(gen(av[-1], flags))
        elif op == sre_constants.BRANCH:
            out.append(gen(RNG.choice(av[1]), flags))
        elif op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            pass
        elif op == sre_constants.CATEGORY:
            out.append(RNG.choice(CATS.get(av, "a")))
        else:
            raise Unsupported("regex op %s" % op)
    return "".join(out)


def new_secret(rx):
    try:
        parsed = sre_parse.parse(go_to_py_regex(rx))
    except Exception as e:  # noqa: BLE001
        raise Unsupported("regex: %s" % e)
    return gen(parsed)


def plausible_secret(rx):
    for _ in range(100):
        s = new_secret(rx)
        if re.search("[1-9]", s):
            return s
    return s


# ----------------------------------------------------------- the interpreter


class Ctx:
    def __init__(self, helpers, templates):
        self.helpers = helpers  # utils.* pattern helpers: name -> format string
        self.templates = templates  # GenerateSampleSecrets templates
        self.funcs = {}  # local helper funcs in rules package: name -> (params, body tokens)


class Parser:
    def __init__(self, toks, env, ctx):
        self.t = [t for t in toks if t[0] != "nl"]
        self.i = 0
        self.env = env
        self.ctx = ctx

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "")

    def take(self, val=None):
        tok = self.peek()
        if val is not None and tok[1] != val:
            raise Unsupported("expected %r got %r" % (val, tok[1]))
        self.i += 1
        return tok

    def expr(self):
        v = self.unary()
        while self.peek()[1] == "+":
            self.take()
            w = self.unary()
            if isinstance(v, str) and isinstance(w, str):
                v = v + w
            elif isinstance(v, int) and isinstance(w, int):
                v = v + w
            else:
                raise Unsupported("+ on non-strings")
        return v

    def unary(self):
        kind, val = self.peek()
        if kind in ("str", "raw"):
            self.take()
            return go_string(val)
        if kind == "num":
            self.take()
            return int(val)
        if val == "[":
            # []string{...} or []byte(...)
            self.take("[")
            self.take("]")
            typ = self.take()[1]
            if typ == "string" and self.peek()[1] == "{":
                return self.list_lit()
            if typ == "byte" and self.peek()[1] == "(":
                self.take("(")
                v = self.expr()
                self.take(")")
                return v
            raise Unsupported("[]" + typ)
        if val == "(":
            self.take()
            v = self.expr()
            self.take(")")
            return v
        if kind == "ident":
            self.take()
            if self.peek()[1] == "(":
                return self.call(val)
            if val in self.env:
                v = self.env[val]
                if isinstance(v, Unsupported):
                    raise v
                return v
            if val == "nil":
                return []
            raise Unsupported("unknown name " + val)
        raise Unsupported("token %r" % val)

    def list_lit(self):
        self.take("{")
        out = []
        while self.peek()[1] != "}":
            start = self.i
            try:
                v = self.expr()
                if isinstance(v, str):
                    out.append(v)
                else:
                    raise Unsupported("list element not a string")
            except Unsupported as e:
                out.append(e)
                self.i = start
                self.skip_element()
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return out

    def skip_element(self):
        depth = 0
        while True:
            _, v = self.peek()
            if v in ("(", "{", "["):
                depth += 1
            elif v in (")", "}", "]"):
                if depth == 0:
                    return
                depth -= 1
            elif v == "," and depth == 0:
                return
            elif v == "":
                return
            self.take()

    def args(self):
        self.take("(")
        out = []
        spread = False
        while self.peek()[1] != ")":
            out.append(self.expr())
            if self.peek()[1] == "...":
                self.take()
                spread = True
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return out, spread

    def call(self, name):
        args, spread = self.args()
        short = name.split(".")[-1]
        if name == "append":
            base = list(args[0])
            rest = args[1:]
            if spread:
                for r in rest[:-1]:
                    base.append(r)
                base.extend(rest[-1])
            else:
                base.extend(rest)
            return base
        if name in ("secrets.NewSecret",):
            return new_secret(args[0])
        if name == "newPlausibleSecret":
            return plausible_secret(args[0])
        if name == "utils.GenerateSampleSecret":
            return '%s_api_token = "%s"' % (args[0], args[1])
        if name == "utils.GenerateSampleSecrets":
            ident, sec = args
            return [t.replace("{i}", ident).replace("{I}", ident.upper()).replace("{s}", sec)
                    for t in self.ctx.templates]
        if name.startswith("utils.") and short in self.ctx.helpers:
            f = self.ctx.helpers[short]
            return f.replace("%s", str(args[0])) if args else f
        if name == "fmt.Sprintf":
            f = args[0]
            vals = iter(args[1:])
            return re.sub(r"%[sdvq]", lambda m: str(next(vals)), f.replace("%%", "\x00")).replace("\x00", "%")
        if name == "strings.Repeat":
            return args[0] * args[1]
        if name == "strings.ToUpper":
            return args[0].upper()
        if name == "strings.ToLower":
            return args[0].lower()
        if name == "string":
            return args[0]
        if name.endswith("StdEncoding.EncodeToString") or name.endswith("URLEncoding.EncodeToString"):
            data = args[0].encode("latin-1")
            if "URL" in name:
                enc = base64.urlsafe_b64encode(data).decode()
            else:
                enc = base64.b64encode(data).decode()
            return enc.rstrip("=") if ".Raw" in name or name.startswith("Raw") or "Raw" in name else enc
        if name in self.ctx.funcs:
            params, body = self.ctx.funcs[name]
            env = dict(zip(params, args))
            return run_body(body, env, self.ctx, want_return=True)
        raise Unsupported("call " + name)


def split_statements(toks):
    """Top-level statements of a function body (a list of token lists)."""
    stmts = []
    cur = []
    depth = 0
    for tok in toks:
        if tok[1] in ("(", "{", "["):
            depth += 1
        elif tok[1] in (")", "}", "]"):
            depth -= 1
        if depth == 0 and (tok[0] == "nl" or tok[1] == ";"):
            # a line ending in an operator continues
            if cur and cur[-1][1] in ("+", ",", "(", "{", "=", ":="):
                continue
            if cur:
                stmts.append(cur)
            cur = []
            continue
        cur.append(tok)
        if depth == 0 and tok[1] == "}" and cur and cur[0][1] in ("for", "if"):
            stmts.append(cur)
            cur = []
    if cur:
        stmts.append(cur)
    return stmts


class Result:
    def __init__(self):
        self.tps = []
        self.fps = []
        self.failed = []  # reasons
        self.rule_id = None


def run_body(body, env, ctx, want_return=False, result=None):
    for st in split_statements(body):
        vals = [t[1] for t in st]
        try:
            if vals[0] in ("for", "if"):
                if result is not None:
                    result.failed.append("loop/if statement")
                continue
            if vals[0] == "return":
                p = Parser(st[1:], env, ctx)
                if want_return:
                    return p.expr()
                if vals[1] in ("utils.Validate",):
                    p.take()
                    p.take("(")
                    p.take()  # r
                    p.take(",")
                    result.tps = as_list(p.expr(), result)
                    p.take(",")
                    result.fps = as_list(p.expr(), result)
                elif vals[1] == "utils.ValidateWithPaths":
                    result.failed.append("path-based samples (ValidateWithPaths)")
                continue
            if vals[0] == "var":
                st = st[1:]
                vals = vals[1:]
            if len(vals) > 2 and vals[1] in (":=", "="):
                name = vals[0]
                if name == "r" or name == "_":
                    continue
                p = Parser(st[2:], env, ctx)
                try:
                    env[name] = p.expr()
                except Unsupported as e:
                    env[name] = e
                continue
            if len(vals) > 3 and vals[2] == "=" and vals[1] not in ("(",):
                # `name type = expr`
                p = Parser(st[3:], env, ctx)
                try:
                    env[vals[0]] = p.expr()
                except Unsupported as e:
                    env[vals[0]] = e
        except Unsupported as e:
            if result is not None:
                result.failed.append(str(e))
    return None


def as_list(v, result):
    if v is None:
        result.failed.append("samples from a helper the interpreter could not run")
        return []
    if isinstance(v, Unsupported):
        result.failed.append(str(v))
        return []
    if isinstance(v, str):
        return [v]
    out = []
    for x in v:
        if isinstance(x, Unsupported):
            result.failed.append(str(x))
        else:
            out.append(x)
    return out


def functions(src):
    """(name, params, receiver-less body tokens) of each top-level func."""
    toks = tokenize(src)
    out = []
    i = 0
    while i < len(toks):
        if toks[i][1] == "func" and i + 1 < len(toks) and toks[i + 1][0] == "ident":
            name = toks[i + 1][1]
            j = i + 2
            params = []
            depth = 0
            while j < len(toks):
                v = toks[j][1]
                if v == "(":
                    depth += 1
                elif v == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif depth == 1 and toks[j][0] == "ident" and toks[j - 1][1] in ("(", ","):
                    params.append(v)
                j += 1
            while j < len(toks) and toks[j][1] != "{":
                j += 1
            depth = 0
            k = j
            while k < len(toks):
                if toks[k][1] == "{":
                    depth += 1
                elif toks[k][1] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            out.append((name, params, toks[j + 1:k]))
            i = k
        i += 1
    return out


def load_helpers(root):
    helpers = {}
    src = open(os.path.join(root, "cmd/generate/config/utils/patterns.go")).read()
    for name, _params, body in functions(src):
        lits = [go_string(v) for k, v in body if k in ("raw", "str")]
        if lits:
            helpers[name] = lits[0]
    src = open(os.path.join(root, "cmd/generate/config/utils/generate.go")).read()
    m = re.search(r"samples := map\[string\]string\{(.*?)\n\t\}", src, re.S)
    templates = []
    for line in m.group(1).split("\n"):
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        toks = [t for t in tokenize(line) if t[0] != "nl"]
        if len(toks) >= 3 and toks[1][1] == ":" and toks[2][0] in ("str", "raw"):
            templates.append(go_string(toks[2][1]))
    return helpers, templates


def extract(root):
    helpers, templates = load_helpers(root)
    ctx = Ctx(helpers, templates)
    rules_dir = os.path.join(root, "cmd/generate/config/rules")
    files = sorted(f for f in os.listdir(rules_dir) if f.endswith(".go") and not f.endswith("_test.go"))
    funcs = []
    for f in files:
        src = open(os.path.join(rules_dir, f)).read()
        for name, params, body in functions(src):
            ctx.funcs[name] = (params, body)
            funcs.append((f, name, src, body))
    # package-level vars (e.g. keyword lists) are not needed for samples
    results = []
    for f, name, src, body in funcs:
        vals = [t[1] for t in body]
        if "Validate" not in " ".join(vals) and "utils.Validate" not in vals and "utils.ValidateWithPaths" not in vals:
            continue
        res = Result()
        for k, (kind, v) in enumerate(body):
            if v == "RuleID" and k + 2 < len(body) and body[k + 2][0] in ("str", "raw"):
                res.rule_id = go_string(body[k + 2][1])
                break
        if res.rule_id is None:
            continue
        RNG.seed(hash_str(res.rule_id))
        run_body(body, {}, ctx, result=res)
        results.append(res)
    return results


def hash_str(s):
    h = 7
    for c in s:
        h = (h * 31 + ord(c)) & 0xFFFFFFFF
    return h


# ------------------------------------------------------------ gitleaks rules


def load_toml(root):
    cfg = tomllib.load(open(os.path.join(root, "config/gitleaks.toml"), "rb"))
    rules = {}
    for r in cfg.get("rules", []):
        rx = r.get("regex")
        comp = None
        if rx:
            try:
                comp = re.compile(go_to_py_regex(rx))
            except re.error:
                comp = None
        rules[r["id"]] = (rx, comp, r.get("secretGroup", 0))
    return rules


def literal_prefix_len(rx):
    """Shortest literal prefix over the alternatives of the regex (case-sensitive)."""
    if rx is None:
        return 0
    try:
        parsed = sre_parse.parse(go_to_py_regex(rx))
    except Exception:  # noqa: BLE001
        return 0
    if parsed.state.flags & sre_constants.SRE_FLAG_IGNORECASE:
        pass

    def pl(seq):
        n = 0
        for op, av in seq:
            if op == sre_constants.LITERAL:
                n += 1
            elif op == sre_constants.AT:
                continue
            elif op == sre_constants.SUBPATTERN:
                sub = pl(av[-1])
                n += sub[0]
                if not sub[1]:
                    return n, False
            elif op == sre_constants.BRANCH:
                return n + min(pl(b)[0] for b in av[1]), False
            elif op == sre_constants.IN and len(av) == 2 and all(o == sre_constants.LITERAL for o, _ in av) \
                    and chr(av[0][1]).lower() == chr(av[1][1]).lower():
                n += 1  # [Aa]
            else:
                return n, False
        return n, True

    return pl(parsed)[0]


# ------------------------------------------------------------------ running


SEP = "\n@@keel-recall-sample-%06d@@\n"


def run_keel(keel, samples):
    """keel's output for each sample (batched, with per-sample fallback)."""
    outs = [None] * len(samples)
    batch = 400
    for b in range(0, len(samples), batch):
        idx = list(range(b, min(b + batch, len(samples))))
        text = "".join(SEP % i + samples[i] for i in idx) + SEP % 999999
        got = subprocess.run([keel, "redact"], input=text.encode(), capture_output=True, check=True).stdout.decode("utf-8", "replace")
        parts = re.split(r"\n@@keel-recall-sample-(\d{6})@@\n", got)
        ok = len(parts) == 2 * len(idx) + 2
        if ok:
            for k, i in enumerate(idx):
                if int(parts[1 + 2 * k]) != i:
                    ok = False
                    break
                outs[i] = parts[2 + 2 * k]
        if not ok:
            for i in idx:
                outs[i] = subprocess.run([keel, "redact"], input=samples[i].encode(), capture_output=True, check=True).stdout.decode("utf-8", "replace")
    return outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout")
    ap.add_argument("--keel", default="target/release/keel")
    ap.add_argument("-v", action="store_true", help="every rule, not just those below 100%%")
    ap.add_argument("--show-missed", metavar="RULE", help="print missed samples of RULE ('all' for every rule)")
    ap.add_argument("--show-fp", action="store_true", help="print changed false-positive samples")
    a = ap.parse_args()

    results = extract(a.checkout)
    toml = load_toml(a.checkout)
    samples = []
    owners = []
    for r in results:
        for s in r.tps:
            samples.append(s)
            owners.append((r.rule_id, "tp"))
        for s in r.fps:
            samples.append(s)
            owners.append((r.rule_id, "fp"))
    outs = run_keel(a.keel, samples)

    per = {}
    fixed = {}
    fp_changed = fp_changed_nomatch = fp_total = fp_nomatch = 0
    fp_lines = []
    uncompiled = sum(1 for v in toml.values() if v[1] is None)
    for (rid, kind), s, o in zip(owners, samples, outs):
        if kind == "tp":
            rx, comp, grp = toml.get(rid, (None, None, 0))
            changed = o != s
            gone = changed
            if changed and comp is not None:
                m = comp.search(s)
                if m:
                    g = grp or (1 if comp.groups else 0)
                    try:
                        sec = m.group(g) or m.group(0)
                    except IndexError:
                        sec = m.group(0)
                    gone = sec not in o
            st = per.setdefault(rid, [0, 0, 0, []])
            st[0] += 1
            st[1] += changed
            st[2] += gone
            if not gone:
                st[3].append((s, o))
            if rid not in fixed:
                fixed[rid] = literal_prefix_len(rx) >= 3
        else:
            fp_total += 1
            matched = any(c is not None and c.search(s) for _, c, _ in toml.values())
            fp_nomatch += not matched
            if o != s:
                fp_changed += 1
                if not matched:
                    fp_changed_nomatch += 1
                    fp_lines.append((rid, s, o))

    def pct(x, n):
        return "%d/%d (%.1f%%)" % (x, n, 100.0 * x / n if n else 0)

    tot = sum(v[0] for v in per.values())
    chg = sum(v[1] for v in per.values())
    gone = sum(v[2] for v in per.values())
    ftot = sum(v[0] for k, v in per.items() if fixed[k])
    fgone = sum(v[2] for k, v in per.items() if fixed[k])
    failed = sum(len(r.failed) for r in results)
    print("rules with samples: %d (gitleaks.toml: %d rules, %d regexes Python cannot compile)" % (len(per), len(toml), uncompiled))
    print("not extracted: %d expressions/statements (see -v)" % failed)
    print("true positives changed:            " + pct(chg, tot))
    print("true positives masked (secret gone): " + pct(gone, tot))
    print("fixed-prefix rules (%d): masked    %s" % (sum(1 for k in per if fixed[k]), pct(fgone, ftot)))
    print("false positives changed: %d of %d; among the %d no gitleaks rule matches: %d"
          % (fp_changed, fp_total, fp_nomatch, fp_changed_nomatch))
    print()
    for rid in sorted(per, key=lambda k: (per[k][2] / per[k][0], k)):
        n, c, g, missed = per[rid]
        if a.v or g < n:
            print("  %-45s %s%s" % (rid, pct(g, n), "  [prefix]" if fixed[rid] else ""))
        if a.show_missed in (rid, "all"):
            for s, o in missed[:6]:
                print("      IN : " + s.replace("\n", "\\n")[:200])
                print("      OUT: " + o.replace("\n", "\\n")[:200])
    if a.v:
        for r in results:
            for f in r.failed:
                print("  not extracted in %s: %s" % (r.rule_id, f))
    if a.show_fp:
        for rid, s, o in fp_lines:
            print("  FP %s\n      IN : %s\n      OUT: %s" % (rid, s.replace("\n", "\\n")[:200], o.replace("\n", "\\n")[:200]))


if __name__ == "__main__":
    sys.exit(main())
