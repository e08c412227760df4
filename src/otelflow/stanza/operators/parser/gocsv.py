"""Go's encoding/csv record reading for one value (ReadCSVRow): quoting rules, lazy quotes, and the
way a multi-line value is joined, so csv_parser splits exactly as upstream does."""

from __future__ import annotations


class CSVError(ValueError):
    pass


class _Lines:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def read(self) -> tuple[str, bool]:
        """(line, eof): a line keeps its "\\n"; "\\r\\n" becomes "\\n"; eof only when nothing was read."""
        if self.pos >= len(self.text):
            return "", True
        end = self.text.find("\n", self.pos)
        if end < 0:
            line = self.text[self.pos:]
            self.pos = len(self.text)
            if line.endswith("\r"):
                line = line[:-1]
        else:
            line = self.text[self.pos:end + 1]
            self.pos = end + 1
        if line.endswith("\r\n"):
            line = line[:-2] + "\n"
        return line, False


def _nl(s: str) -> int:
    return 1 if s.endswith("\n") else 0


def _read_record(src: _Lines, comma: str, lazy: bool) -> tuple[list[str] | None, str | None]:
    """One record and its error (records come back partial with an error, as Go's Reader.Read)."""
    while True:
        line, eof = src.read()
        if eof:
            return None, None
        if len(line) != _nl(line):
            break
    fields: list[str] = []
    buf: list[str] = []
    err: str | None = None
    read_eof = False
    while True:  # parseField
        if not line or line[0] != '"':
            i = line.find(comma)
            field = line[:i] if i >= 0 else line[: len(line) - _nl(line)]
            if not lazy and '"' in field:
                err = 'bare " in non-quoted-field'
                break
            fields.append(field)
            if i >= 0:
                line = line[i + len(comma):]
                continue
            break
        line = line[1:]
        buf = []
        done = False
        while True:
            i = line.find('"')
            if i >= 0:
                buf.append(line[:i])
                line = line[i + 1:]
                if line.startswith('"'):
                    buf.append('"')
                    line = line[1:]
                elif line.startswith(comma):
                    line = line[len(comma):]
                    fields.append("".join(buf))
                    break
                elif _nl(line) == len(line):
                    fields.append("".join(buf))
                    done = True
                    break
                elif lazy:
                    buf.append('"')
                else:
                    err = 'extraneous or missing " in quoted-field'
                    done = True
                    break
            elif line:
                buf.append(line)
                if read_eof:
                    done = True
                    break
                line, read_eof = src.read()
                if read_eof:
                    read_eof = False
                    line = ""
            else:
                if not lazy:
                    err = 'extraneous or missing " in quoted-field'
                    done = True
                    break
                fields.append("".join(buf))
                done = True
                break
        if done:
            break
    return fields, err


def read_csv_row(row: str, comma: str, lazy: bool) -> list[str]:
    src = _Lines(row)
    lines: list[list[str]] = []
    while True:
        record, err = _read_record(src, comma, lazy)
        if record is None:
            break
        if err is not None and not record:
            raise CSVError(f"read csv line: parse error: {err}")
        lines.append(record)
    if not lines:
        raise CSVError("no csv lines found")
    joined = lines[0]
    for nxt in lines[1:]:
        if joined and nxt:
            joined[-1] += "\n" + nxt[0]
            joined.extend(nxt[1:])
        else:
            joined.extend(nxt)
    return joined
