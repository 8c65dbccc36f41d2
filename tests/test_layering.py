"""The import structure: no module of syft_fl imports itself back through others, and the config, which every
feature reads, imports none of the modules that sit above it (it learns their choices from the registries)."""
import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "syft_fl")


def module_names():
    names = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                names[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, f)
    return names


def imports(name, path, known):
    """The syft_fl modules ``name`` imports anywhere in its text (type-only and function-level imports too)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph():
    known = module_names()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_circle():
    edges, state, stack = graph(), {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_config_imports_nothing_above_it():
    above = ("syft_fl.transport", "syft_fl.workers", "syft_fl.federation", "syft_fl.bs_round", "syft_fl.experiment",
             "syft_fl.study", "syft_fl.models", "syft_fl.training")
    edges = graph()
    reached, todo = set(), ["syft_fl.config"]
    while todo:  # everything the config imports, directly or through others
        for nxt in edges[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    assert not [m for m in reached if m.startswith(above)], sorted(reached)
