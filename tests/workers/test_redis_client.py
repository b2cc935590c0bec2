"""The pool's own Redis client (`hipercow_workers.resp`) against a real redis-server.

What the pool relies on: pipelines and transactions in one round trip, Lua
scripts sent whole only when Redis does not know them, blocking pops shared
between threads, logging in and choosing a database from the URL, and going
on by itself once a restarted Redis answers again.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from redis_testing import RedisServer, free_port

from hipercow_workers.resp import Client, LoginError, RedisUnavailableError, ReplyError


def test_pipelines_transactions_and_hashes_come_back_as_python_values(
    redis_server: RedisServer,
) -> None:
    client = Client(redis_server.url)
    pipe = client.pipeline()
    pipe.delete("t:list", "t:hash")
    pipe.rpush("t:list", "a", b"b", 3)
    pipe.hset("t:hash", "field", "ü")
    pipe.hgetall("t:hash")
    pipe.lrange("t:list", 0, -1)
    *_, whole, items = pipe.execute()
    assert whole == {b"field": "ü".encode()}
    assert items == [b"a", b"b", b"3"]

    moved = client.pipeline(transaction=True)
    moved.lrem("t:list", 0, "a")
    moved.lpush("t:list", "z")
    assert moved.execute() == [1, 3]
    assert client.lrange("t:list", 0, -1) == [b"z", b"b", b"3"]
    assert client.hmget("t:hash", ["field", "none"]) == ["ü".encode(), None]


def test_an_error_reply_is_raised_and_the_connection_stays_usable(
    redis_server: RedisServer,
) -> None:
    client = Client(redis_server.url)
    client.set("t:text", "x")
    pipe = client.pipeline()
    pipe.rpush("t:text", "y")  # a list command on a string
    pipe.exists("t:text")
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        pipe.execute()
    assert client.exists("t:text") == 1


def test_a_script_is_sent_whole_again_after_redis_forgot_it(redis_server: RedisServer) -> None:
    client = Client(redis_server.url)
    script = client.script("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, false}")
    assert script(keys=["k"], args=["v", 41]) == [b"k", b"v", 42, None]
    client.pipeline().execute()  # nothing queued, nothing sent
    assert client.call([("SCRIPT", "FLUSH")]) == ["OK"]
    assert script(keys=["k"], args=["w", 1]) == [b"k", b"w", 2, None]


def test_threads_block_on_their_own_connections(redis_server: RedisServer) -> None:
    client = Client(redis_server.url)
    client.delete("t:inbox")
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(client.blpop(["t:inbox"], timeout=10)))
    reader.start()
    client.rpush("t:inbox", "hello")  # not stuck behind the blocked pop
    reader.join(timeout=10)
    assert got == [(b"t:inbox", b"hello")]
    assert client.blpop(["t:inbox"], timeout=0.05) is None


def test_the_url_gives_the_password_and_the_database(tmp_path: Path) -> None:
    """A refused login is an unreachable Redis to the pool (`LoginError` is one), as with redis-py."""
    server = RedisServer(tmp_path / "redis")
    try:
        Client(server.url).call([("CONFIG", "SET", "requirepass", "s3cret")])
        with pytest.raises(LoginError, match="NOAUTH"):
            Client(server.url).exists("k")
        on_two = Client(f"redis://:s3cret@127.0.0.1:{server.port}/2")
        on_two.set("k", "2")
        assert Client(f"redis://:s3cret@127.0.0.1:{server.port}").exists("k") == 0
        assert Client(f"redis://:s3cret@127.0.0.1:{server.port}?db=2").exists("k") == 1
        with pytest.raises(LoginError, match=r"WRONGPASS|invalid password"):
            Client(f"redis://:wrong@127.0.0.1:{server.port}").exists("k")
    finally:
        server.stop()


def test_a_restarted_redis_is_reached_again_and_a_stopped_one_is_said(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    try:
        client = Client(server.url, timeout=5)
        client.set("k", "1")
        server.restart()  # the pooled connection is now dead
        assert client.exists("k") == 0  # empty, but reached on a new connection
        server.stop()
        with pytest.raises(RedisUnavailableError, match=f"connecting to 127.0.0.1:{server.port}"):
            client.exists("k")
    finally:
        server.stop()


def test_urls_that_are_not_redis_are_refused() -> None:
    for url in ("http://host:6379", f"redis://127.0.0.1:{free_port()}/zero"):
        with pytest.raises(ValueError):
            Client(url)
