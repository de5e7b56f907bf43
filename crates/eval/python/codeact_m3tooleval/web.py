"""Tools of the web_browsing domain: a stateful text browser over the site of
data/web_pages.jsonl, plus the calculator. Written from the pack's tools.json.

A fresh browser is on page '/' at scroll position 0 with an empty history. A view shows five
lines; its page counter keeps the original's arithmetic (a page of exactly 10 lines reports
'of 3', and scrolling can reach an empty last view)."""

from . import data
from .calculator import make_calculator

_LINES_PER_VIEW = 5
_RULE = "-" * 10


class Browser:
    """The state the browsing tools of one task share."""

    def __init__(self, pages):
        self.pages = pages
        self.history = []
        self._open("/")

    def _open(self, name):
        self.name = name
        self.lines = self.pages[name].split("\n")
        self.position = 0

    def view(self):
        total = len(self.lines)
        if total > _LINES_PER_VIEW:
            page = self.position // _LINES_PER_VIEW + 1
            pages = total // _LINES_PER_VIEW + 1
        else:
            page = pages = 1
        shown = "\n".join(self.lines[self.position : self.position + _LINES_PER_VIEW])
        header = f"[Web Page Name: {self.name}]\n" if self.name else ""
        return f"{_RULE}\n{header}[Viewing page {page} of {pages}]\n\n{shown}\n{_RULE}"

    def click_url(self, url):
        name = url.replace("'", "")
        if name not in self.pages:
            return "[URL not found.]"
        self.history.append(self.name)
        self._open(name)
        return f"[Opened page: {name}]\n{self.view()}"

    def go_to_previous_page(self):
        if not self.history:
            return "[No previous page.]"
        self._open(self.history.pop())
        return f"[Opened page: {self.name}]\n{self.view()}"

    def scroll_down(self):
        if self.position + _LINES_PER_VIEW < len(self.lines):
            self.position += _LINES_PER_VIEW
            return self.view()
        return "[Reached the bottom of the page.]\n"

    def scroll_up(self):
        if self.position > 0:
            self.position -= _LINES_PER_VIEW
            return self.view()
        return "[Reached the top of the page.]\n"


def make_tools():
    browser = Browser(data.WEB_PAGES)

    # Plain functions named like the tools, so that a code-mode session shows them as such.
    def click_url(url):
        """Clicks on a URL. Returns the rendered content of the webpage after clicking it."""
        return browser.click_url(url)

    def go_to_previous_page():
        """Goes back to the previous page and returns its rendered content."""
        return browser.go_to_previous_page()

    def scroll_down():
        """Scrolls down the view and returns the rendered content."""
        return browser.scroll_down()

    def scroll_up():
        """Scrolls up the view and returns the rendered content."""
        return browser.scroll_up()

    def view():
        """Return the current view in string format of the rendered webpage."""
        return browser.view()

    # The calculator's eval sees the domain's tools, itself included.
    namespace = {}
    tools = {
        "click_url": click_url,
        "go_to_previous_page": go_to_previous_page,
        "scroll_down": scroll_down,
        "scroll_up": scroll_up,
        "view": view,
        "calculator": make_calculator(namespace),
    }
    namespace.update(tools)
    return tools
