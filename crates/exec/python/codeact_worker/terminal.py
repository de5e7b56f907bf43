"""What a terminal would show of a stream: carriage returns, backspaces and ANSI cursor and
erase codes applied to the line they edit, colours and other escape codes dropped.

Progress bars redraw one line thousands of times (`\\rprogress 41/200000`); kept raw, the
redraws would fill a cell's output cap and bury the last state, which is the only one a
person or a model wants. A Line holds the one line still open to such edits; finished lines
(ended by a newline) leave it as plain text. Only the open line is editable: codes that move
the cursor up (nested progress bars) act on it alone."""

import re

# One control: a newline, a carriage return, a backspace, or an ANSI escape sequence (CSI
# with its parameters and final byte; OSC strings up to BEL or ST; any other ESC + one byte).
# An OSC string ends at a newline too: binary output must not hide the lines after it.
CONTROL = re.compile(r"(\n|\r|\x08|\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[@-_]?)")
NEEDS_WORK = re.compile(r"[\r\x08\x1b]")


class Line:
    """The open line of one stream and the cursor in it."""

    def __init__(self):
        self.text = ""
        self.cursor = 0
        # Whether anything moved the cursor back or erased: such a line is a redraw, which is
        # held until it is finished (streaming it half-drawn would show stale frames).
        self.edited = False

    def __len__(self):
        return len(self.text)

    def feed(self, s):
        """Applies s; returns the finished lines it completed, each ending in a newline."""
        if not NEEDS_WORK.search(s) and self.cursor == len(self.text):
            # The common case, plain text appended at the end: no per-piece work.
            head, nl, tail = s.rpartition("\n")
            if not nl:
                self.text += s
                self.cursor = len(self.text)
                return ""
            done = self.text + head + nl
            self.text = tail
            self.cursor = len(tail)
            self.edited = False
            return done
        done = []
        for piece in CONTROL.split(s):
            if not piece:
                continue
            if piece == "\n":
                done.append(self.text + "\n")
                self.text = ""
                self.cursor = 0
                self.edited = False
            elif piece == "\r":
                self.cursor = 0
                self.edited = True
            elif piece == "\x08":
                self.cursor = max(0, self.cursor - 1)
                self.edited = True
            elif piece[0] == "\x1b":
                self._escape(piece)
            else:
                self._put(piece)
        return "".join(done)

    def take(self):
        """The open line as it looks now, and a fresh one."""
        text = self.text
        self.text = ""
        self.cursor = 0
        self.edited = False
        return text

    def _put(self, s):
        t, c = self.text, self.cursor
        if c > len(t):
            t += " " * (c - len(t))
        self.text = t[:c] + s + t[c + len(s) :]
        self.cursor = c + len(s)

    def _escape(self, seq):
        if len(seq) < 3 or seq[1] != "[":
            return
        final = seq[-1]
        params = seq[2:-1]
        if final == "K":
            # Erase in line: 0 to the end, 1 to the start, 2 all.
            self.edited = True
            if params in ("", "0"):
                self.text = self.text[: self.cursor]
            elif params == "1":
                self.text = " " * self.cursor + self.text[self.cursor :]
            elif params == "2":
                self.text = ""
        elif final in "GDC":
            self.edited = True
            n = _number(params, 1)
            if final == "G":
                self.cursor = max(0, n - 1)
            elif final == "D":
                self.cursor = max(0, self.cursor - n)
            else:
                self.cursor += n
        elif final in "ABEF":
            # Up or down a line: only the open line is kept, so this starts it again.
            self.cursor = 0
            self.edited = True


def _number(params, default):
    try:
        return int(params.split(";")[0]) if params else default
    except ValueError:
        return default


def render(text):
    """The whole of a finished text as a terminal would show it."""
    line = Line()
    return line.feed(text) + line.take()
