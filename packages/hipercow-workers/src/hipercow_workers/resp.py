"""A small Redis client: the commands the pool uses, spoken in RESP2 over one socket per caller.

Why not redis-py: importing it costs 100-150 ms (it loads its asyncio
client, cluster support and telemetry whatever is used), and every command
of a short pool command (`bulk call`, `bundle wait`, `worker start`) and
every worker's start pays that. The pool needs a dozen commands, pipelines,
MULTI/EXEC and Lua scripts, which fit here in the standard library.

Connections are pooled per client, one per thread at a time (the worker's
heartbeat and control threads each use their own while the main loop uses
another). A connection that fails is closed, never reused; the next command
opens a new one, so a Redis that restarted is simply reached again. A
command that fails on a connection reused from the pool (the server closed
it while it sat idle) is sent once more on a fresh connection, as redis-py
does.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

Arg = str | bytes | int | float
#: A reply: bytes (bulk string), str (status), int, None (null), or a list of replies.
Reply = Any

DEFAULT_PORT = 6379
_SCHEMES = ("redis", "rediss", "unix")


class RedisError(Exception):
    """Anything that went wrong talking to Redis."""


class RedisUnavailableError(RedisError):
    """Redis cannot be reached, did not answer in time, or dropped the connection."""


class ReplyError(RedisError):
    """Redis answered with an error (a wrong command, a failing script)."""


class LoginError(RedisUnavailableError):
    """Redis wants a password, or refused the one in the URL: for the user, it cannot be reached."""


#: The replies that say the login is wrong, not the command.
_LOGIN_REFUSALS = ("NOAUTH", "WRONGPASS", "ERR invalid password", "ERR AUTH")


def _encode(value: Arg) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return repr(value).encode() if isinstance(value, float) else str(value).encode()


def pack(commands: Iterable[Sequence[Arg]]) -> bytes:
    """Commands as RESP arrays of bulk strings, ready to send in one write."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = _encode(arg)
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Address:
    """Where Redis is and how to log in, from a `redis://`, `rediss://` or `unix://` URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ValueError("Redis URL must start with redis://, rediss:// or unix://")
        self.url = url
        self.tls = parts.scheme == "rediss"
        self.unix_path = unquote(parts.path) if parts.scheme == "unix" else None
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORT  # a bad port raises ValueError here
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        path = parts.path.strip("/") if self.unix_path is None else ""
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        db = path or query.get("db", "0")
        if not db.isdigit():
            raise ValueError(f"the database must be a number, not '{db}'")
        self.db = int(db)

    def where(self) -> str:
        return self.unix_path if self.unix_path is not None else f"{self.host}:{self.port}"


class Connection:
    """One socket to Redis, with a buffered reader for its replies."""

    def __init__(self, address: Address, connect_timeout: float, timeout: float) -> None:
        self.sock = _open_socket(address, connect_timeout)
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb")
        setup: list[tuple[Arg, ...]] = []
        if address.password is not None:
            login = (
                (address.password,)
                if address.username is None
                else (address.username, address.password)
            )
            setup.append(("AUTH", *login))
        if address.db:
            setup.append(("SELECT", address.db))
        if setup:
            try:
                _first_error(self.call(setup))
            except ReplyError as e:
                self.close()
                raise LoginError(str(e)) from None

    def call(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Send the commands in one write and read their replies; errors come back as values.

        Any failure of the socket closes it and raises `RedisUnavailableError`.
        """
        try:
            self.sock.sendall(pack(commands))
            return [self.read() for _ in commands]
        except (OSError, EOFError, ValueError) as e:  # ValueError: a reply that is not RESP
            self.close()
            raise RedisUnavailableError(_describe(e)) from None

    def read(self) -> Reply:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise EOFError("Connection closed by server.")
        kind, body = line[:1], line[1:-2]
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:
                raise EOFError("Connection closed by server.")
            return data[:-2]
        if kind == b":":
            return int(body)
        if kind == b"+":
            return body.decode()
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [self.read() for _ in range(count)]
        if kind == b"-":
            return ReplyError(body.decode(errors="replace"))
        raise EOFError(f"Protocol error: unexpected reply {line[:20]!r}")

    def close(self) -> None:
        for closing in (self.reader.close, self.sock.close):
            with contextlib.suppress(OSError):
                closing()


def _open_socket(address: Address, connect_timeout: float) -> socket.socket:
    where = address.where()
    try:
        if address.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(connect_timeout)
            sock.connect(address.unix_path)
            return sock
        sock = socket.create_connection((address.host, address.port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if address.tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=address.host)
        return sock
    except OSError as e:
        if isinstance(e, TimeoutError):
            raise RedisUnavailableError(f"Timeout connecting to {where}.") from None
        raise RedisUnavailableError(
            f"Error {e.errno} connecting to {where}. {e.strerror}."
        ) from None


def _describe(error: BaseException) -> str:
    """A failed exchange in the words redis-py uses, which users may have met."""
    if isinstance(error, TimeoutError):
        return "Timeout reading from socket"
    if isinstance(error, OSError) and error.errno is not None:
        return f"Error {error.errno} while talking to Redis. {error.strerror}."
    return str(error) or type(error).__name__


def _first_error(replies: list[Reply]) -> list[Reply]:
    for reply in replies:
        if isinstance(reply, ReplyError):
            raise LoginError(str(reply)) if str(reply).startswith(_LOGIN_REFUSALS) else reply
    return replies


def _pairs(reply: Reply) -> dict[bytes, bytes]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _pop_reply(reply: Reply) -> tuple[bytes, bytes] | None:
    return None if reply is None else (reply[0], reply[1])


class Commands:
    """The commands the pool uses, each turned into its arguments; subclasses send or queue them."""

    def _command(self, args: tuple[Arg, ...], then: Callable[[Reply], Any] | None = None) -> Any:
        raise NotImplementedError

    def set(self, key: str, value: Arg, *, px: int | None = None) -> Any:
        return self._command(("SET", key, value) if px is None else ("SET", key, value, "PX", px))

    def delete(self, *keys: str) -> Any:
        return self._command(("DEL", *keys))

    def exists(self, *keys: str) -> Any:
        return self._command(("EXISTS", *keys))

    def hset(self, key: str, field: str, value: Arg) -> Any:
        return self._command(("HSET", key, field, value))

    def hdel(self, key: str, *fields: str) -> Any:
        return self._command(("HDEL", key, *fields))

    def hmget(self, key: str, fields: Sequence[str]) -> Any:
        return self._command(("HMGET", key, *fields))

    def hgetall(self, key: str) -> Any:
        """The hash as a dict of bytes to bytes."""
        return self._command(("HGETALL", key), _pairs)

    def lpush(self, key: str, *values: Arg) -> Any:
        return self._command(("LPUSH", key, *values))

    def rpush(self, key: str, *values: Arg) -> Any:
        return self._command(("RPUSH", key, *values))

    def lrem(self, key: str, count: int, value: Arg) -> Any:
        return self._command(("LREM", key, count, value))

    def lrange(self, key: str, start: int, end: int) -> Any:
        return self._command(("LRANGE", key, start, end))

    def zadd(self, key: str, scores: Mapping[str, float]) -> Any:
        flat: list[Arg] = []
        for member, score in scores.items():
            flat += [score, member]
        return self._command(("ZADD", key, *flat))

    def zrem(self, key: str, *members: str) -> Any:
        return self._command(("ZREM", key, *members))

    def blpop(self, keys: Sequence[str], timeout: float) -> Any:
        """(key, value) of the first item pushed within `timeout` seconds, else None."""
        return self._command(("BLPOP", *keys, timeout), _pop_reply)

    def blmove(self, source: str, target: str, ends: tuple[str, str], timeout: float) -> Any:
        """Block until `source` has an item (or `timeout`), moving it between the ends given."""
        return self._command(("BLMOVE", source, target, *ends, timeout))


class Client(Commands):
    """A Redis at a URL; nothing is sent until the first command. Safe to share between threads."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, timeout: float = 30.0) -> None:
        self.address = Address(url)
        self.connect_timeout = connect_timeout
        #: Longer than any blocking command the pool sends (at most a few seconds).
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def call(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Send commands in one round trip; their replies, errors included as `ReplyError`s."""
        with self._lock:
            reused = self._idle.pop() if self._idle else None
        connection = reused or self._connect()
        try:
            replies = connection.call(commands)
        except RedisUnavailableError:
            if reused is None:
                raise
            connection = self._connect()  # the idle one had been dropped: once more, afresh
            replies = connection.call(commands)
        with self._lock:
            self._idle.append(connection)
        return replies

    def _connect(self) -> Connection:
        return Connection(self.address, self.connect_timeout, self.timeout)

    def _command(self, args: tuple[Arg, ...], then: Callable[[Reply], Any] | None = None) -> Any:
        (reply,) = _first_error(self.call([args]))
        return reply if then is None else then(reply)

    def ping(self) -> bool:
        return bool(self._command(("PING",)) == "PONG")

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        return Pipeline(self, transaction)

    def script(self, source: str) -> Script:
        return Script(self, source)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class Pipeline(Commands):
    """Commands queued, then sent in one round trip by `execute` (inside MULTI/EXEC if asked)."""

    def __init__(self, client: Client, transaction: bool) -> None:
        self.client = client
        self.transaction = transaction
        self.commands: list[tuple[Arg, ...]] = []
        self.thens: list[Callable[[Reply], Any] | None] = []

    def _command(self, args: tuple[Arg, ...], then: Callable[[Reply], Any] | None = None) -> Any:
        self.commands.append(args)
        self.thens.append(then)
        return self

    def execute(self) -> list[Any]:
        """The replies in order; raises the first error Redis answered with."""
        if not self.commands:
            return []
        if self.transaction:
            replies = self.client.call([("MULTI",), *self.commands, ("EXEC",)])
            _first_error(replies[:-1])  # a command refused when queued
            result = replies[-1]
            if isinstance(result, ReplyError):
                raise result
            if result is None:  # only a WATCH, which the pool never sends, aborts one
                raise RedisError("the transaction was aborted")
        else:
            result = self.client.call(self.commands)
        replies = _first_error(list(result))
        self.commands, thens, self.thens = [], self.thens, []
        return [r if then is None else then(r) for r, then in zip(replies, thens, strict=True)]


class Script:
    """A Lua script run by its digest (EVALSHA), sent whole only when Redis does not know it yet."""

    def __init__(self, client: Client, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: Sequence[str], args: Sequence[Arg]) -> Reply:
        counts: tuple[Arg, ...] = (len(keys), *keys, *args)
        (reply,) = self.client.call([("EVALSHA", self.sha, *counts)])
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            (reply,) = self.client.call([("EVAL", self.source, *counts)])  # a new or flushed Redis
        return _first_error([reply])[0]
