"""How the command line reports mistakes in its input."""


class UserError(Exception):
    """A mistake in the command line or the input files: one line, exit status 2."""


def one_line(text):
    """``text`` on one line (multi-line messages, such as a list of reasons, joined by '; ')."""
    lines = [line.strip() for line in str(text).splitlines()]
    lines = [line[2:].strip() if line.startswith("- ") else line for line in lines]  # list bullets
    lines = [line for line in lines if line]
    if not lines:
        return ""
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out
