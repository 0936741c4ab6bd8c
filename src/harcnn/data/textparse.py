"""Fast, exact parsing of whitespace-separated numeric text tables (the UCI HAR file format).

The official UCI HAR files are fixed-width: every value takes 16 bytes (``'  1.8085150e-004'``,
``' -1.8965500e-002'``) and lines end in CRLF. :func:`parse_float_table` parses that layout with
vectorised numpy on the raw bytes; other layouts whose every line holds the same number of values
(HAPT's recordings: shortest repr, single spaces) are split and converted in one go; anything else
(and every bad file, for its message) goes through a line-by-line token parser. All paths give exactly
the value a correctly rounded decimal-to-float64 conversion gives (the same as ``np.loadtxt``); every
problem is reported as a :class:`DataError` naming the file and, where it applies, the line.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from harcnn.core.errors import DataError

_FIELD = 16  # bytes per value in the official layout
_MANTISSA_DIGITS = (2, 4, 5, 6, 7, 8, 9, 10)  # 'd.ddddddd' -> an exact 8-digit integer
_EXPONENT_DIGITS = (13, 14, 15)
# Exact powers of ten: m / 10**k and m * 10**k are then correctly rounded (m < 2**53, k <= 22).
_POW10 = np.array([float(f"1e{k}") for k in range(23)])


def parse_float_table(data: bytes, name: str, *, ncols: int | None = None) -> np.ndarray:
    """Parse ``data`` into a float64 array [rows, ncols]; ``name`` labels the file in errors.

    With ``ncols`` every line must hold exactly that many values; otherwise all lines must
    match the first. Trailing blank lines are ignored. NaN and infinite values are an error.
    """
    table = _parse_fixed_width(data)
    if table is None or (ncols is not None and table.shape[1] != ncols):
        table = _parse_uniform(data, ncols)
    if table is None:
        table = _parse_general(data, name, ncols)
    return table


def parse_int_column(data: bytes, name: str) -> np.ndarray:
    """Parse a file with one integer per line (labels, subject ids) into int64 [rows]."""
    return parse_int_table(data, name, ncols=1)[:, 0]


def parse_int_table(data: bytes, name: str, *, ncols: int) -> np.ndarray:
    """Parse a file of ``ncols`` whitespace-separated integers per line into int64 [rows, ncols]."""
    lines = _content_lines(data, name)
    tokens = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) != ncols:
            expected = "one integer" if ncols == 1 else f"{ncols} integers"
            raise DataError(f"{name}, line {number}: expected {expected}, found {len(fields)} values")
        tokens.extend(fields)
    try:
        return np.array(tokens, dtype=np.int64).reshape(len(lines), ncols)
    except (ValueError, OverflowError):
        index, token = next((i, t) for i, t in enumerate(tokens) if not _is_int(t))
        raise DataError(f"{name}, line {index // ncols + 1}: not an integer: {_show(token)}") from None


def _parse_fixed_width(data: bytes) -> np.ndarray | None:
    """Vectorised parse of the official 16-bytes-per-value layout; None when ``data`` is not in it."""
    line_len = data.find(b"\n") + 1
    if line_len <= 0:
        return None
    eol = b"\r\n" if line_len > 1 and data[line_len - 2] == ord("\r") else b"\n"
    width = line_len - len(eol)
    if width <= 0 or width % _FIELD or len(data) % line_len:
        return None
    lines = np.frombuffer(data, np.uint8).reshape(-1, line_len)
    if not (lines[:, width:] == np.frombuffer(eol, np.uint8)).all():
        return None
    fields = lines[:, :width].reshape(len(lines), width // _FIELD, _FIELD)
    sign, exp_sign = fields[..., 1], fields[..., 12]
    if not (
        (fields[..., 0] == ord(" ")).all()
        and ((sign == ord(" ")) | (sign == ord("-"))).all()
        and (fields[..., 3] == ord(".")).all()
        and ((fields[..., 11] == ord("e")) | (fields[..., 11] == ord("E"))).all()
        and ((exp_sign == ord("+")) | (exp_sign == ord("-"))).all()
    ):
        return None
    mantissa = _digits_value(fields, _MANTISSA_DIGITS, np.int32)
    exponent = _digits_value(fields, _EXPONENT_DIGITS, np.int32)
    if mantissa is None or exponent is None:
        return None
    # value = mantissa * 10**(exponent - 7), done as one correctly rounded multiply or divide.
    power = np.where(exp_sign == ord("-"), -exponent, exponent) - (len(_MANTISSA_DIGITS) - 1)
    if np.abs(power).max() >= len(_POW10):
        return None
    values = mantissa / _POW10[np.maximum(-power, 0)]
    scale_up = power > 0
    if scale_up.any():
        values[scale_up] = mantissa[scale_up] * _POW10[power[scale_up]]
    np.negative(values, out=values, where=sign == ord("-"))
    return values


def _digits_value(fields: np.ndarray, positions: tuple[int, ...], dtype: type) -> np.ndarray | None:
    """The decimal number spelled by the ASCII digits at ``positions``; None if any is not a digit."""
    value = np.zeros(fields.shape[:-1], dtype=dtype)
    for position in positions:
        digit = fields[..., position] - np.uint8(ord("0"))  # wraps around for bytes below '0'
        if digit.max() > 9:
            return None
        value *= 10
        value += digit
    return value


_WHITESPACE = np.zeros(256, bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True  # what bytes.split() splits on


def _parse_uniform(data: bytes, ncols: int | None) -> np.ndarray | None:
    """One-go parse of a whitespace-separated table whose lines all hold ``ncols`` values (the first
    line's count when None) and nothing but finite numbers; None when ``data`` is not such a table."""
    body = data.rstrip()
    if not body:
        return None
    chars = np.frombuffer(body, np.uint8)
    space = _WHITESPACE[chars]
    token_starts = np.flatnonzero(~space & np.r_[True, space[:-1]])
    newlines = np.flatnonzero(chars == ord("\n"))
    per_line = np.bincount(np.searchsorted(newlines, token_starts), minlength=len(newlines) + 1)
    ncols = int(per_line[0]) if ncols is None else ncols
    if ncols == 0 or not (per_line == ncols).all():
        return None
    try:
        table = np.array(body.split(), dtype=np.float64).reshape(len(per_line), ncols)
    except ValueError:
        return None
    return table if np.isfinite(table).all() else None


def _parse_general(data: bytes, name: str, ncols: int | None) -> np.ndarray:
    """Token-by-token parse of any whitespace-separated layout, with line-exact error messages."""
    rows = [line.split() for line in _content_lines(data, name)]
    expected = ncols if ncols is not None else len(rows[0])
    for number, row in enumerate(rows, start=1):
        if len(row) != expected:
            source = f"expected {ncols}" if ncols is not None else f"line 1 has {expected}"
            raise DataError(f"{name}, line {number}: {len(row)} values, {source}")
    try:
        table = np.array(list(chain.from_iterable(rows)), dtype=np.float64).reshape(len(rows), expected)
    except ValueError:
        number, token = next(
            (i, t) for i, row in enumerate(rows, start=1) for t in row if not _is_float(t)
        )
        raise DataError(f"{name}, line {number}: not a number: {_show(token)}") from None
    finite = np.isfinite(table)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(f"{name}, line {row + 1}: non-finite value {_show(rows[row][col])}")
    return table


def _content_lines(data: bytes, name: str) -> list[bytes]:
    """The lines of ``data`` without trailing blank lines; an empty file is an error."""
    lines = data.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{name}: file is empty")
    return lines


def _is_float(token: bytes) -> bool:
    return _converts(token, np.float64)


def _is_int(token: bytes) -> bool:
    return _converts(token, np.int64)


def _converts(token: bytes, dtype: type) -> bool:
    try:
        np.array([token], dtype=dtype)
    except (ValueError, OverflowError):
        return False
    return True


def _show(token: bytes) -> str:
    return repr(token.decode("utf-8", "replace")[:40])
