"""No import cycles among the package's modules (nor among bench/'s): each imports only below it."""

import ast
from pathlib import Path
from typing import Dict, Set

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(base: Path, package: str) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports (any import, also inside functions)."""
    files = {module_name(p, base): p for p in (base / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = name.split(".")[
                        : len(name.split(".")) - node.level + (1 if is_package else 0)
                    ]
                    stem = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                candidates = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in files and c != name}
        graph[name] = targets
    return graph


def cycles(graph: Dict[str, Set[str]]):
    """Every module that can reach itself, with the path found."""
    found = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    found.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_package_has_no_import_cycle():
    graph = import_graph(ROOT, "spacy_bert_tasks")
    # A package's __init__ and its modules import each other by design (lazy exports).
    graph = {
        m: {t for t in ts if not m.startswith(t + ".") and not t.startswith(m + ".")}
        for m, ts in graph.items()
    }
    assert cycles(graph) == []


def test_bench_has_no_import_cycle():
    bench = ROOT / "bench"
    files = {p.stem: p for p in bench.glob("*.py")} | {
        f"harness.{p.stem}": p for p in (bench / "harness").glob("*.py")
    }
    graph = {}
    for name, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.ImportFrom):
                stem = node.module or ""
                if node.level:
                    stem = "harness" + (f".{stem}" if stem else "")
                targets |= {
                    c for c in [stem] + [f"{stem}.{a.name}" for a in node.names] if c in files
                }
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name in files}
        graph[name] = targets - {name}
    assert cycles(graph) == []
