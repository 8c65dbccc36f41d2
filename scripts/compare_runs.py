"""Compare two run folders on the older one's columns and keys: are the results the same?

Usage: python scripts/compare_runs.py OLD_RUN NEW_RUN

``rounds.csv`` and ``uplinks.csv`` of NEW_RUN are projected onto OLD_RUN's columns (columns added since are
dropped) and compared row by row; ``summary.json`` is compared on the older one's keys (keys and totals added
since removed). Exit 0 when everything is equal, 1 otherwise. Used to show that a refactoring changed no result
while outputs gained columns.
"""
import csv
import json
import sys


def same_csv(old: str, new: str) -> bool:
    with open(old, newline="") as fa, open(new, newline="") as fb:
        a, b = list(csv.reader(fa)), list(csv.reader(fb))
    index = [b[0].index(column) for column in a[0]]
    return a == [[row[i] for i in index] for row in b]


def same_summary(old: str, new: str) -> bool:
    with open(old) as fa, open(new) as fb:
        a, b = json.load(fa), json.load(fb)
    b = {k: v for k, v in b.items() if k in a}
    for name, strategy in b["strategies"].items():
        old = a["strategies"].get(name, {})
        known = old.get("totals", {})
        strategy["totals"] = {k: v for k, v in strategy["totals"].items() if k in known}
        for key in [k for k in strategy if k not in old]:
            del strategy[key]
    return a == b


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    old, new = argv
    ok = True
    for name in ("rounds.csv", "uplinks.csv"):
        same = same_csv(f"{old}/{name}", f"{new}/{name}")
        print(f"{name}: {'same on the old columns' if same else 'DIFFERENT'}")
        ok &= same
    same = same_summary(f"{old}/summary.json", f"{new}/summary.json")
    print(f"summary.json: {'same on the old keys' if same else 'DIFFERENT'}")
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
