"""htpasswd files as upstream's basicauth reads them (tg123/go-htpasswd's default parsers).

Lines are ``user:hash``; the hash may be bcrypt (``$2y$``), MD5-crypt (``$apr1$``, ``$1$``), SHA-crypt
(``$5$``, ``$6$``), ``{SHA}``, ``{SSHA}``, or plain text. Blank and malformed lines are skipped; a later
line for the same user replaces an earlier one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Callable

import bcrypt

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _to64(value: int, n: int) -> str:
    out = []
    for _ in range(n):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def _encode(digest: bytes, triples: list[tuple[int, ...]], tail: tuple[int, ...]) -> str:
    out = [_to64((digest[a] << 16) | (digest[b] << 8) | digest[c], 4) for a, b, c in triples]
    if len(tail) == 1:
        out.append(_to64(digest[tail[0]], 2))
    else:
        out.append(_to64((digest[tail[0]] << 8) | digest[tail[1]], 3))
    return "".join(out)


def md5_crypt(password: bytes, salt: bytes, magic: bytes) -> str:
    """Poul-Henning Kamp's MD5-crypt (``$1$``) and Apache's variant of it (``$apr1$``)."""
    salt = salt[:8]
    alt = hashlib.md5(password + salt + password).digest()
    ctx = password + magic + salt
    for i in range(len(password), 0, -16):
        ctx += alt[: min(16, i)]
    i = len(password)
    while i:
        ctx += b"\0" if i & 1 else password[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for i in range(1000):
        block = password if i & 1 else final
        if i % 3:
            block += salt
        if i % 7:
            block += password
        block += final if i & 1 else password
        final = hashlib.md5(block).digest()
    triples = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)]
    return f"{magic.decode()}{salt.decode()}${_encode(final, triples, (11,))}"


_SHA_ORDER = {
    "5": ([(0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14), (15, 25, 5), (6, 16, 26), (27, 7, 17),
           (18, 28, 8), (9, 19, 29)], (31, 30)),
    "6": ([(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48), (28, 49, 7),
           (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57),
           (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41)], (63,)),
}


def _repeat(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def sha_crypt(password: bytes, setting: str) -> str:
    """Ulrich Drepper's SHA-crypt: ``setting`` is ``$5$[rounds=N$]salt`` or ``$6$...``."""
    _, variant, rest = setting.split("$", 2)
    h = hashlib.sha256 if variant == "5" else hashlib.sha512
    rounds, explicit = 5000, False
    if rest.startswith("rounds="):
        count, _, rest = rest.partition("$")
        rounds, explicit = max(1000, min(999_999_999, int(count[len("rounds="):]))), True
    salt = rest.split("$", 1)[0][:16].encode()
    alt = h(password + salt + password).digest()
    ctx = password + salt + _repeat(alt, len(password))
    n = len(password)
    while n:
        ctx += alt if n & 1 else password
        n >>= 1
    a = h(ctx).digest()
    p = _repeat(h(password * len(password)).digest(), len(password))
    s = _repeat(h(salt * (16 + a[0])).digest(), len(salt))
    c = a
    for i in range(rounds):
        block = p if i & 1 else c
        if i % 3:
            block += s
        if i % 7:
            block += p
        block += c if i & 1 else p
        c = h(block).digest()
    triples, tail = _SHA_ORDER[variant]
    prefix = f"${variant}$" + (f"rounds={rounds}$" if explicit else "")
    return f"{prefix}{salt.decode()}${_encode(c, triples, tail)}"


def _eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def matcher(encoded: str) -> Callable[[str], bool] | None:
    """A password check for one stored hash, or None when the line is malformed."""
    if encoded.startswith(("$2y$", "$2a$", "$2b$")):
        stored = encoded.encode()
        return lambda pw: _bcrypt_ok(pw.encode(), stored)
    if encoded.startswith(("$apr1$", "$1$")):
        magic = "$apr1$" if encoded.startswith("$apr1$") else "$1$"
        parts = encoded[len(magic):].split("$")
        if len(parts) != 2:
            return None
        return lambda pw: _eq(md5_crypt(pw.encode(), parts[0].encode(), magic.encode()), encoded)
    if encoded.startswith(("$5$", "$6$")):
        if encoded.count("$") < 3:
            return None
        return lambda pw: _eq(sha_crypt(pw.encode(), encoded), encoded)
    if encoded.startswith("{SHA}"):
        want = encoded[5:]
        return lambda pw: _eq(base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode(), want)
    if encoded.startswith("{SSHA}"):
        try:
            raw = base64.b64decode(encoded[6:], validate=True)
        except ValueError:
            return None
        if len(raw) <= 20:
            return None
        digest, salt = raw[:20], raw[20:]
        return lambda pw: hmac.compare_digest(hashlib.sha1(pw.encode() + salt).digest(), digest)
    # plain text; nginx writes it with a {PLAIN} prefix
    return lambda pw: _eq(pw, encoded) or _eq("{PLAIN}" + pw, encoded)


def _bcrypt_ok(password: bytes, stored: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, stored)
    except ValueError:
        return False


def is_slow(encoded: str) -> bool:
    """Whether checking against this hash costs enough CPU to belong off the event loop."""
    return encoded.startswith(("$2", "$5$", "$6$", "$apr1$", "$1$"))


def parse(text: str) -> dict[str, tuple[Callable[[str], bool], bool]]:
    """user -> (password check, is_slow), for every well-formed line of an htpasswd file."""
    table = {}
    for raw in text.splitlines():
        line = raw.strip()
        user, sep, encoded = line.partition(":")
        if not line or not sep:
            continue
        check = matcher(encoded)
        if check is not None:
            table[user] = (check, is_slow(encoded))
    return table
