"""Regenerate tests/unit/api/data/resource_expr_vectors.json from OpenKruise's own calculator.

The vectors pin kruise_py.api.resource_expr (our evaluator of SidecarSet resourcesPolicy
expressions) to what OpenKruise v1.9 computes. This script builds a small Go program in a temporary
folder around pkg/util/calculator of an OpenKruise checkout (read there, nothing of it is kept),
feeds it generated expressions and records the answers:

    python hack/resource_expr_vectors.py [--kruise /work/ok-src] [--count 1500]

Needs Go and the checkout's module dependencies in the Go module cache (it builds offline).
Expressions whose intermediate values leave the int64 milli-unit range (Pi quantities, products of
huge numbers) are not generated: Go's int64 arithmetic overflows there, we compute exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "unit" / "api" / "data" / "resource_expr_vectors.json"

MAIN_GO = """package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"oracle/calculator"
	"k8s.io/apimachinery/pkg/api/resource"
)

type in struct {
	Expr string `json:"expr"`
	Var  string `json:"var"`
	Val  string `json:"val"`
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var x in
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			panic(err)
		}
		v := &calculator.Value{IsQuantity: true}
		if len(x.Val) > 4 && x.Val[:4] == "num:" {
			f, _ := strconv.ParseFloat(x.Val[4:], 64)
			v = &calculator.Value{Number: f}
		} else if x.Val != "" {
			v.Quantity = resource.MustParse(x.Val)
		}
		c := calculator.NewCalculator()
		c.SetVariables(map[string]*calculator.Value{x.Var: v})
		r, err := c.Parse(x.Expr)
		out := map[string]any{}
		if err != nil {
			out["err"] = err.Error()
		} else if r.IsQuantity {
			out["quantity"] = r.Quantity.String()
		} else {
			out["number"] = strconv.FormatFloat(r.Number, 'g', -1, 64)
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	}
}
"""

ATOMS = [
    "cpu",
    "memory",
    "CPU",
    "1",
    "0",
    "2",
    "0.5",
    "1.5",
    "3",
    "7",
    "50%",
    "150%",
    "0.1%",
    "1e3",
    "2E",
    "1e",
    "100m",
    "50m",
    "512Mi",
    "1Gi",
    "1G",
    "2k",
    "1.5Gi",
    "0.5Ki",
    "1Ki",
    "3Mi",
    "1500",
    "999m",
    "1024",
    "5x",
    "1.2.3",
    ".",
    " 1 ",
    "1e-3",
    "0.333",
    "1m",
    "1n",
    "1u",
    "1k",
    "1Ti",
    "5%0",
    "x",
    "_a",
    "1Ei",
    "1E3Mi",
]
FUNCS = ["max", "min", "MAX", "foo", "cpu"]
VALUES = [
    "100m",
    "1",
    "512Mi",
    "1Gi",
    "2",
    "0",
    "",
    "num:1",
    "num:0.5",
    "1G",
    "1500m",
    "3",
    "7Mi",
    "1e3",
    "1.5Gi",
    "123456789m",
    "5Ki",
]
HANDWRITTEN = [
    ("max(cpu*50%, 50m)", "cpu", "200m"),
    ("max(memory*50%, 100Mi)", "memory", "512Mi"),
    ("cpu*50%", "cpu", ""),
    ("cpu + 100m", "cpu", ""),
    ("cpu - 1", "cpu", "500m"),
    ("1*50%", "cpu", "1"),
    ("memory + 1Gi", "memory", "1G"),
    ("1G + memory", "memory", "1Gi"),
    ("memory*3/7", "memory", "1Gi"),
    ("min(memory, 100)", "memory", "1Gi"),
    ("-1000000", "memory", "1Gi"),
    ("cpu\n*", "cpu", "1"),
    ("", "cpu", "1"),
    ("cpu - 2", "cpu", "num:1"),
    ("1e400", "cpu", "1"),
    ("CPéU", "cpu", "1"),
    ("max(1) + cpu*cpu", "cpu", "1"),
    ("cpu2 )", "cpu", "1"),
    ("+5", "cpu", "1"),
    ("cpu/cpu", "cpu", "1"),
]


def _expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.35:
        atom = rng.choice(ATOMS)
        return "-" + atom if rng.random() < 0.1 else atom
    if r < 0.7:
        return _expr(rng, depth + 1) + rng.choice("+-*/") + _expr(rng, depth + 1)
    if r < 0.8:
        return "(" + _expr(rng, depth + 1) + ")"
    args = ",".join(_expr(rng, depth + 1) for _ in range(rng.choice([1, 2, 2, 2, 3])))
    return f"{rng.choice(FUNCS)}({args})"


def cases(count: int, seed: int = 20251203) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = [{"expr": e, "var": v, "val": x} for e, v, x in HANDWRITTEN]
    while len(out) < count:
        e = _expr(rng)
        if rng.random() < 0.05:
            i = rng.randrange(len(e) + 1)
            e = e[:i] + rng.choice(["%", "(", ")", ",", "  ", "\t", "é", "#", "++"]) + e[i:]
        out.append({"expr": e, "var": rng.choice(["cpu", "memory"]), "val": rng.choice(VALUES)})
    return out


def build_oracle(kruise: Path, workdir: Path) -> Path:
    calc = workdir / "calculator"
    calc.mkdir()
    for name in ("calculator.go", "calculator_y.go", "lexer.go"):
        shutil.copy(kruise / "pkg" / "util" / "calculator" / name, calc / name)
    (workdir / "main.go").write_text(MAIN_GO)
    gomod = (kruise / "go.mod").read_text()
    (workdir / "go.mod").write_text(re.sub(r"(?m)^module .*$", "module oracle", gomod, count=1))
    shutil.copy(kruise / "go.sum", workdir / "go.sum")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOSUMDB": "off", "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "build", "-o", "oracle", "."], cwd=workdir, env=env, check=True)
    return workdir / "oracle"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kruise", type=Path, default=Path("/work/ok-src"), help="an OpenKruise v1.9 checkout")
    ap.add_argument("--count", type=int, default=1500)
    args = ap.parse_args()
    inputs = cases(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        oracle = build_oracle(args.kruise, Path(tmp))
        text = "\n".join(json.dumps(c, ensure_ascii=False) for c in inputs) + "\n"
        answers = subprocess.run([str(oracle)], input=text, capture_output=True, text=True, check=True)
    vectors = [{**c, **json.loads(line)} for c, line in zip(inputs, answers.stdout.splitlines(), strict=True)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # One vector a line: small diffs when regenerated.
    lines = ",\n".join(json.dumps(v, ensure_ascii=False) for v in vectors)
    OUT.write_text(f'{{"source": "OpenKruise v1.9.0 pkg/util/calculator", "vectors": [\n{lines}\n]}}\n')
    print(f"wrote {len(vectors)} vectors to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
