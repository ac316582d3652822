"""The listening sockets of a process, bound before anything else starts.

A taken port or a foreign address then fails first, as one `CannotListen` naming the setting to
change, before a pool, a broker connection or a demo token exists.
"""

import errno
import socket
from dataclasses import dataclass, field
from types import TracebackType

_BACKLOG = 128


class CannotListen(Exception):
    """An address of the settings that this process cannot listen on; says which setting to change."""


@dataclass(frozen=True)
class ListenAddress:
    """A host and port to listen on, with the names of the settings they come from."""

    host_setting: str
    host: str
    port_setting: str
    port: int
    alternative: str = ""  # what else the port setting may be, e.g. "0 to turn it off"

    def _port_advice(self, advice: str) -> str:
        return f"{advice}, or {self.alternative}" if self.alternative else advice

    def explain(self, exc: OSError) -> CannotListen:
        """The one line that tells the user which setting to change."""
        host, port = f"{self.host_setting}={self.host}", f"{self.port_setting}={self.port}"
        if exc.errno == errno.EADDRINUSE:
            advice = self._port_advice(f"set {self.port_setting} to a free port")
            return CannotListen(f"{port} is in use: {advice}")
        if exc.errno == errno.EACCES:
            advice = self._port_advice(f"set {self.port_setting} to a port above 1023")
            return CannotListen(f"{port} needs privileges this process lacks: {advice}")
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            unknown = isinstance(exc, socket.gaierror)
            problem = "does not resolve" if unknown else "is not an address of this machine"
            return CannotListen(
                f"{host} {problem}: set {self.host_setting} to an address of this machine "
                "(127.0.0.1 for this machine only, 0.0.0.0 for all of its addresses)"
            )
        reason = (exc.strerror or str(exc)).lower()
        return CannotListen(
            f"cannot listen on {host} {port} ({reason}): set {self.host_setting} and "
            f"{self.port_setting} to an address and port this machine can listen on"
        )


@dataclass
class Listener:
    """Bound, listening sockets (none when the server is turned off); closed on leaving `with`."""

    sockets: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()  # a no-op for a socket its server has closed already

    def __enter__(self) -> "Listener":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def listen(address: ListenAddress) -> Listener:
    """Bind and listen on every address the host names, as asyncio's create_server would."""
    try:
        found = socket.getaddrinfo(
            address.host or None, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise address.explain(exc) from None
    listener = Listener()
    try:
        for family, kind, proto, _, sockaddr in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            listener.sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # its IPv4 twin binds alone
            sock.bind(sockaddr)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        listener.close()
        raise address.explain(exc) from None
    return listener
