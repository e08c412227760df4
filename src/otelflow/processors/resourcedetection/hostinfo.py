"""Host facts for the ``system`` detector, read the way upstream's providers read them (Go's
os.Hostname, go-fqdn, gopsutil's host and cpu info, the OTel Go SDK's os.description and host.id).
Every function here blocks (files, DNS), so the detector calls them from a worker thread."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import socket
import sys

HOSTS_PATH = "/etc/hosts"
MACHINE_ID_PATHS = ("/etc/machine-id", "/var/lib/dbus/machine-id")
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")

# Go's GOOS names, then the semantic-convention spelling upstream maps a few of them to.
_OS_TYPES = {"linux": "linux", "darwin": "darwin", "win32": "windows", "cygwin": "windows",
             "freebsd": "freebsd", "openbsd": "openbsd", "netbsd": "netbsd", "sunos": "solaris",
             "aix": "aix", "dragonfly": "dragonflybsd", "zos": "z_os"}
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "x86",
           "i486": "x86", "i586": "x86", "i686": "x86", "x86": "x86", "ppc64le": "ppc64", "ppc64": "ppc64",
           "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64", "loongarch64": "loong64"}


def os_type() -> str:
    for prefix, name in _OS_TYPES.items():
        if sys.platform.startswith(prefix):
            return name
    return sys.platform


def host_arch() -> str:
    machine = platform.machine().lower()
    if machine.startswith("arm") and machine not in _ARCHES:
        return "arm32"
    return _ARCHES.get(machine, machine)


def hostname() -> str:
    return socket.gethostname()


# -- hostname sources -------------------------------------------------------------------------------

def _host_line(host: str, line: str) -> str | None:
    """go-fqdn's /etc/hosts rule: the canonical name of the line where ``host`` is the canonical
    name or an alias."""
    fields = line.split("#", 1)[0].split()
    if len(fields) < 2:
        return None
    canon = fields[1]
    if canon == host or host in fields[2:]:
        return canon
    return None


def fqdn() -> str:
    host = hostname()
    try:
        with open(HOSTS_PATH, encoding="utf-8", errors="replace") as f:
            for line in f:
                found = _host_line(host, line.rstrip("\n"))
                if found:
                    return found
    except OSError:
        pass
    try:
        canon = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)[0][3]
        if canon:
            return canon.rstrip(".")
    except (OSError, IndexError):
        pass
    try:
        return reverse_lookup(host)
    except OSError as exc:
        raise OSError(f"could not get FQDN: {exc}") from None


def lookup_cname() -> str:
    host = hostname()
    try:
        canon = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)[0][3]
    except (OSError, IndexError) as exc:
        raise OSError(f"LookupCNAME failed to get CNAME: lookup {host}: {exc}") from None
    return canon.rstrip(".")


def reverse_lookup(host: str | None = None) -> str:
    host = host or hostname()
    try:
        addresses = list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None)))
    except OSError as exc:
        raise OSError(f"hostnameToDomainName failed to convert hostname to IP addresses: lookup {host}: {exc}") from None
    last: Exception | None = None
    for ip in addresses:
        try:
            return socket.gethostbyaddr(ip)[0].rstrip(".")
        except OSError as exc:
            last = exc
    raise OSError(f"reverseLookup failed to convert IP addresses to name: {last}")


# -- OS ---------------------------------------------------------------------------------------------

def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def host_id() -> str:
    for path in MACHINE_ID_PATHS:
        text = _read(path)
        if text is not None:
            value = text.strip()
            if not value:
                raise ValueError('empty "host.id"')
            return value
    raise ValueError('failed to obtain "host.id": host id not found in: /etc/machine-id or /var/lib/dbus/machine-id')


def os_release() -> dict[str, str]:
    """/etc/os-release as the OTel Go SDK reads it (unquoted, unescaped)."""
    for path in OS_RELEASE_PATHS:
        text = _read(path)
        if text is None:
            continue
        values = {}
        for line in text.splitlines():
            if not line.strip() or line.strip().startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            if not key:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] in "\"'" and value[0] == value[-1]:
                value = value[1:-1]
            for a, b in (("\\$", "$"), ('\\"', '"'), ("\\'", "'"), ("\\\\", "\\"), ("\\`", "`")):
                value = value.replace(a, b)
            values[key.strip()] = value
        return values
    return {}


def os_description() -> str:
    u = os.uname()
    uname = f"{u.sysname} {u.nodename} {u.release} {u.version} {u.machine}"
    rel = os_release()
    name, version = rel.get("NAME", ""), rel.get("VERSION", "") or rel.get("VERSION_ID", "")
    described = f"{name} {version}" if name and version else rel.get("PRETTY_NAME", "")
    return f"{described} ({uname})" if described else uname


def _lsb() -> dict[str, str]:
    out = {}
    for line in (_read("/etc/lsb-release") or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def platform_info() -> tuple[str, str]:
    """gopsutil's (Platform, PlatformVersion) for Linux: the distribution id and its version."""
    if os_type() != "linux":
        return platform.system().lower(), platform.release()
    rel, lsb = os_release(), _lsb()
    ident = rel.get("ID", "") or lsb.get("DISTRIB_ID", "").lower()
    if ident == "debian":
        return ident, (_read("/etc/debian_version") or "").strip()
    if lsb.get("DISTRIB_RELEASE") and ident in ("ubuntu", lsb.get("DISTRIB_ID", "").lower()):
        return ident, lsb["DISTRIB_RELEASE"]
    return ident, rel.get("VERSION_ID", "")


def os_build_id() -> str:
    build = os_release().get("BUILD_ID", "") if os_type() == "linux" else ""
    return build or platform.release()


def cpu_info() -> dict[str, str] | None:
    """The first processor of /proc/cpuinfo (gopsutil's cpu.Info()[0])."""
    text = _read("/proc/cpuinfo")
    if text is None:
        return None
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info or None


# -- network interfaces (getifaddrs) ----------------------------------------------------------------

class _SockAddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]


class _IfAddrs(ctypes.Structure):
    pass


_IfAddrs._fields_ = [("next", ctypes.POINTER(_IfAddrs)), ("name", ctypes.c_char_p), ("flags", ctypes.c_uint),
                     ("addr", ctypes.POINTER(_SockAddr)), ("netmask", ctypes.c_void_p),
                     ("ifu", ctypes.c_void_p), ("data", ctypes.c_void_p)]

_IFF_UP, _IFF_LOOPBACK = 0x1, 0x8
_AF_PACKET = 17
_SOCKADDR_SIZES = {socket.AF_INET: 16, socket.AF_INET6: 28, _AF_PACKET: 20}


def interfaces() -> list[dict]:
    """Every interface in index order: name, flags, IPv4/IPv6 addresses and the hardware address."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    head = ctypes.POINTER(_IfAddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        raise OSError(ctypes.get_errno(), "getifaddrs failed")
    found: dict[str, dict] = {}
    try:
        node = head
        while node:
            entry = node.contents
            name = entry.name.decode(errors="replace")
            item = found.setdefault(name, {"name": name, "flags": entry.flags, "ips": [], "mac": ""})
            if entry.addr:
                family = entry.addr.contents.family
                raw = ctypes.string_at(entry.addr, _SOCKADDR_SIZES.get(family, 2))
                if family == socket.AF_INET:
                    item["ips"].append(socket.inet_ntop(socket.AF_INET, raw[4:8]))
                elif family == socket.AF_INET6:
                    item["ips"].append(socket.inet_ntop(socket.AF_INET6, raw[8:24]))
                elif family == _AF_PACKET:
                    halen = raw[11]
                    item["mac"] = ":".join(f"{b:02x}" for b in raw[12:12 + halen])
            node = entry.next
    finally:
        libc.freeifaddrs(head)
    order = {name: index for index, name in socket.if_nameindex()}
    return sorted(found.values(), key=lambda i: order.get(i["name"], 1 << 30))


def _up_not_loopback(iface: dict) -> bool:
    return bool(iface["flags"] & _IFF_UP) and not iface["flags"] & _IFF_LOOPBACK


def host_ips() -> list[str]:
    out = []
    for iface in filter(_up_not_loopback, interfaces()):
        out.extend(ip for ip in iface["ips"] if not (ip.startswith("127.") or ip == "::1"))
    return out


def host_macs() -> list[str]:
    """IEEE RA form (upper-case, hyphens), as upstream writes host.mac."""
    return [iface["mac"].replace(":", "-").upper() for iface in filter(_up_not_loopback, interfaces())]


def interface_names() -> list[str]:
    return [iface["name"] for iface in interfaces()]
