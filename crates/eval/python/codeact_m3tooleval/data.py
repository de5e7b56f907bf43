"""The benchmark's data, read once when the package is imported (its files are gone afterwards).

Files (copied unchanged from the M³ToolEval pack, see data/NOTICE.md): travel.json (locations,
flights and hotels of the travel domain), web_pages.jsonl (the web-browsing site, one page per
line, in site order) and web_metadata.json (the site's item and person metadata, which the tools
do not use but tests may)."""

import json
import os

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _read(name):
    with open(os.path.join(_DIR, name), encoding="utf-8") as f:
        return f.read()


def _pages():
    pages = (json.loads(line) for line in _read("web_pages.jsonl").splitlines() if line.strip())
    return {page["name"]: page["content"] for page in pages}


TRAVEL = json.loads(_read("travel.json"))
# Page name -> content, in the file's order.
WEB_PAGES = _pages()
WEB_METADATA = json.loads(_read("web_metadata.json"))
