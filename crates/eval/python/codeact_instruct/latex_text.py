"""LaTeX math -> plain text that sympy's parser reads, for the MATH grader's second normalisation.

The PRM800K grader (FORMAT.md §5.7) turned LaTeX into text with pylatexenc and then replaced a
few of the Unicode signs that produced (square root -> ``sqrt``, pi -> ``pi``, infinity ->
``inf``, union -> ``U``, middle dot and times -> ``*``). The session has no pylatexenc, so this is
a small converter of our own for the LaTeX that short answers use; it writes those replacements
directly. Where pylatexenc dropped the braces of a group (``x^{n+1}`` -> ``x^n+1``, a different
expression), this converter parenthesises anything that is not a single token
(``x^(n+1)``, ``(a+b)/c``), which the grader then treats as it treats any ``^(``.

``latex_to_text(source)`` -> str; raises ``ValueError`` on unbalanced braces, as pylatexenc's
parser did, and the grader then keeps its expression unchanged.
"""

import re

# Commands replaced by fixed text. Function names stay words; relations and other signs become
# the Unicode characters pylatexenc wrote, so that a given answer and a reference written the
# same way still compare equal as strings.
_SYMBOLS = {
    "pi": "pi",
    "infty": "inf",
    "cup": "U",
    "cdot": "*",
    "times": "*",
    "ast": "*",
    "div": "/",
    "pm": "\u00b1",
    "mp": "\u2213",
    "le": "\u2264",
    "leq": "\u2264",
    "ge": "\u2265",
    "geq": "\u2265",
    "ne": "\u2260",
    "neq": "\u2260",
    "lt": "<",
    "gt": ">",
    "approx": "\u2248",
    "sim": "~",
    "in": "\u2208",
    "notin": "\u2209",
    "cap": "\u2229",
    "setminus": "\u2216",
    "subset": "\u2282",
    "subseteq": "\u2286",
    "emptyset": "\u2205",
    "varnothing": "\u2205",
    "circ": "\u2218",
    "degree": "\u00b0",
    "angle": "\u2220",
    "triangle": "\u25b3",
    "perp": "\u22a5",
    "parallel": "\u2225",
    "to": "\u2192",
    "rightarrow": "\u2192",
    "Rightarrow": "\u21d2",
    "ldots": "...",
    "cdots": "...",
    "dots": "...",
    "mid": "|",
    "vert": "|",
    "lvert": "|",
    "rvert": "|",
    "colon": ":",
    "prime": "'",
    "quad": " ",
    "qquad": " ",
    "bmod": "mod",
    "mod": "mod",
}
_GREEK = {
    "alpha": "\u03b1",
    "beta": "\u03b2",
    "gamma": "\u03b3",
    "delta": "\u03b4",
    "epsilon": "\u03b5",
    "varepsilon": "\u03b5",
    "zeta": "\u03b6",
    "eta": "\u03b7",
    "theta": "\u03b8",
    "vartheta": "\u03b8",
    "iota": "\u03b9",
    "kappa": "\u03ba",
    "lambda": "\u03bb",
    "mu": "\u03bc",
    "nu": "\u03bd",
    "xi": "\u03be",
    "rho": "\u03c1",
    "sigma": "\u03c3",
    "tau": "\u03c4",
    "upsilon": "\u03c5",
    "phi": "\u03c6",
    "varphi": "\u03c6",
    "chi": "\u03c7",
    "psi": "\u03c8",
    "omega": "\u03c9",
    "Gamma": "\u0393",
    "Delta": "\u0394",
    "Theta": "\u0398",
    "Lambda": "\u039b",
    "Sigma": "\u03a3",
    "Phi": "\u03a6",
    "Psi": "\u03a8",
    "Omega": "\u03a9",
}
# One argument, rendered as its content: fonts, text, decorations, boxes.
_KEEP_ARGUMENT = set(
    (
        "text textbf textit textrm textsf texttt textup textnormal emph mbox hbox fbox boxed "
        "mathrm mathbf mathit mathsf mathtt mathbb mathcal mathfrak mathscr mathnormal bm boldsymbol "
        "operatorname overline underline widehat hat bar vec tilde widetilde dot ddot overrightarrow "
        "phantom"
    ).split()
)
# No argument and no text: sizes and styles of delimiters and formulas.
_DROP = set(
    (
        "left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle "
        "displaystyle textstyle scriptstyle limits nolimits nonumber notag"
    ).split()
)
# Control symbols (a backslash and one non-letter).
_CONTROL_SYMBOLS = {
    "{": "{",
    "}": "}",
    "%": "%",
    "$": "$",
    "#": "#",
    "&": "&",
    "_": "_",
    "|": "|",
    ",": "",
    "!": "",
    ";": " ",
    ":": " ",
    " ": " ",
    "\\": " ",
}

# One operand needing no parentheses: a number, one letter, pi or inf, or a call or a
# parenthesised group without parentheses inside ("2x" is a product: it gets parentheses).
_TOKEN = re.compile(r"-?(?:\d+\.?\d*|\.\d+|[^\W\d_]|pi|inf|\w*\([^()]*\))")


def latex_to_text(source):
    """The plain-text form of ``source`` (see the module docstring)."""
    reader = _Reader(source)
    text = reader.sequence()
    if reader.pos < len(source):
        raise ValueError(f"unbalanced '}}' at {reader.pos}")
    return text


def _wrap(text):
    """``text`` as one operand: as it is when it is one token, else in parentheses."""
    text = text.strip()
    return text if _TOKEN.fullmatch(text) else f"({text})"


class _Reader:
    def __init__(self, source):
        self.source = source
        self.pos = 0

    def sequence(self, inside_group=False):
        """Text up to the end of the source, or up to the '}' closing the current group."""
        out = []
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char == "}":
                # A stray '}' at the top level ends the text; latex_to_text rejects it.
                if inside_group:
                    self.pos += 1
                return "".join(out)
            out.append(self.item())
        if inside_group:
            raise ValueError("unbalanced '{'")
        return "".join(out)

    def item(self):
        """Text of the next item: a command, a group, a script, or one character."""
        char = self.source[self.pos]
        self.pos += 1
        if char == "\\":
            return self.command()
        if char == "{":
            return self.sequence(inside_group=True)
        if char in "^_":
            return char + _wrap(self.argument())
        if char == "$":
            return ""
        if char in "~&":
            return " "
        return char

    def argument(self):
        """The next undelimited argument: a group, a command, or one character (spaces skipped)."""
        while self.pos < len(self.source) and self.source[self.pos].isspace():
            self.pos += 1
        if self.pos >= len(self.source):
            raise ValueError("missing argument")
        if self.source[self.pos] == "}":
            raise ValueError("missing argument before '}'")
        return self.item()

    def optional(self):
        """The text of an optional ``[...]`` argument, or None."""
        if self.pos < len(self.source) and self.source[self.pos] == "[":
            end = self.source.find("]", self.pos)
            if end < 0:
                raise ValueError("unclosed '['")
            inner = latex_to_text(self.source[self.pos + 1 : end])
            self.pos = end + 1
            return inner
        return None

    def command(self):
        start = self.pos
        while self.pos < len(self.source) and self.source[self.pos].isalpha():
            self.pos += 1
        name = self.source[start : self.pos]
        if not name:
            if self.pos >= len(self.source):
                return ""
            symbol = self.source[self.pos]
            self.pos += 1
            return _CONTROL_SYMBOLS.get(symbol, symbol)
        return self.named(name)

    def named(self, name):
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            numerator, denominator = self.argument(), self.argument()
            return f"{_wrap(numerator)}/{_wrap(denominator)}"
        if name in ("binom", "dbinom", "tbinom"):
            top, bottom = self.argument(), self.argument()
            return f"binomial({top.strip()},{bottom.strip()})"
        if name == "sqrt":
            degree = self.optional()
            radicand = self.argument().strip()
            if degree is None:
                return f"sqrt({radicand})"
            # In parentheses: "2\\sqrt[3]{2}" must not become "22**(1/3)".
            return f"({radicand})**(1/{_wrap(degree)})"
        if name == "pmod":
            return f"(mod {self.argument().strip()})"
        if name in ("begin", "end"):
            self.argument()
            return " "
        if name in _KEEP_ARGUMENT:
            return self.argument()
        if name in _DROP:
            if name in ("left", "right") and self.source.startswith(".", self.pos):
                self.pos += 1
            return ""
        if name in _SYMBOLS:
            return _SYMBOLS[name]
        if name in _GREEK:
            return _GREEK[name]
        # Function names and anything unknown: the name itself.
        return name
