"""One entry point for every benchmark: `python bench/run.py NAME [OPTIONS]`.

    python bench/run.py --list                         # the benchmarks and what each measures
    python bench/run.py pipe_speed --smoke --json out.json
    python bench/run.py pipe_speed --help              # its options; the shared ones are in
                                                       # bench/harness/cli.py

NAME is a script of bench/ built on the harness (bench/harness/cli.py); `run.py NAME ...` is
`python bench/NAME.py ...`, the commands docs/benchmarks.md gives. `python bench/report.py`
runs them all and writes the page.
"""

import ast
import runpy
import sys
import textwrap
from pathlib import Path
from typing import Dict

BENCH = Path(__file__).resolve().parent


def benchmarks() -> Dict[str, str]:
    """Script name -> the first line of its docstring, for the scripts built on the harness."""
    found = {}
    for path in sorted(BENCH.glob("*.py")):
        if path.name == "run.py":
            continue
        source = path.read_text(encoding="utf8")
        if "from harness import cli" in source:
            doc = ast.get_docstring(ast.parse(source)) or ""
            found[path.stem] = " ".join(doc.strip().split("\n\n")[0].split())
    return found


def main() -> None:
    names = benchmarks()
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "--list"):
        print(__doc__.strip().split("\n")[0] + "\n")
        width = max(map(len, names))
        for name, line in names.items():
            print(f"  {name:{width}}  {textwrap.shorten(line, 100 - width)}")
        return
    name = sys.argv[1].removesuffix(".py")
    if name not in names:
        raise SystemExit(f"error: no benchmark '{name}'; choose from: {', '.join(names)}")
    sys.argv = [str(BENCH / f"{name}.py"), *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
