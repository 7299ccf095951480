"""python scripts/import_graph.py REV [REPO]: Import graph of src/lrcn at a git revision: edges (module -> lrcn module it imports, lazy imports too),
cycles (strongly connected components > 1), and command modules importing command modules."""
import ast, subprocess, sys
rev = sys.argv[1]
repo = sys.argv[2] if len(sys.argv) > 2 else str(__import__("pathlib").Path(__file__).resolve().parent.parent)
files = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", rev, "src/lrcn"], capture_output=True, text=True).stdout.split()
mods = {}
for f in files:
    if not f.endswith(".py"):
        continue
    name = f[len("src/lrcn/"):-3].replace("/", ".")
    if name.endswith(".__init__"):
        name = name[: -len(".__init__")]
    mods[name] = subprocess.run(["git", "-C", repo, "show", f"{rev}:{f}"], capture_output=True, text=True).stdout
def top(m):  # collapse the video package's submodules into one node for comparability
    return "video" if m.startswith("video") else m
edges = set()
for name, src in mods.items():
    pkg = name.rsplit(".", 1)[0] if "." in name else ""
    tree = ast.parse(src)
    typing_only = {id(n) for i in ast.walk(tree) if isinstance(i, ast.If) and getattr(i.test, "id", "") == "TYPE_CHECKING"
                   for n in ast.walk(i)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1 and id(node) not in typing_only:
            base = pkg.split(".") if pkg else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(base + ([node.module] if node.module else []))
            targets = [target] if node.module else [".".join(base + [a.name]) for a in node.names]
            for t in targets:
                t = t.strip(".")
                if t and top(t) != top(name) and (t in mods or t.split(".")[0] in {m.split(".")[0] for m in mods}):
                    edges.add((top(name), top(t)))
nodes = sorted({top(m) for m in mods})
adj = {n: sorted({b for a, b in edges if a == n}) for n in nodes}
# Tarjan SCC
index, low, stack, on, sccs, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in adj.get(v, []):
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for n in nodes:
    if n not in index: strong(n)
commands = {"synth", "preprocess", "train", "evaluate", "continuous", "predict", "stream", "export", "check", "demo"}
cc = sorted((a, b) for a, b in edges if a in commands and b in commands and a != "demo")
model_loaders = sorted(n for n, src in ((top(k), v) for k, v in mods.items())
                       if "load_checkpoint(" in src or "load_head(" in src)
print(f"{rev[:7]}: {len(nodes)} modules, {len(edges)} import arrows, cycles: {sccs or 'none'}")
print(f"  a command importing a command (demo, which runs them all, aside): {cc or 'none'}")
fan = sorted(((sum(1 for a, b in edges if b == n), sum(1 for a, b in edges if a == n), n) for n in nodes), reverse=True)[:4]
print("  busiest (in, out):", ", ".join(f"{n} ({i}, {o})" for i, o, n in fan))
