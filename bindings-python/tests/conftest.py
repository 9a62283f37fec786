"""Fixtures: real `zerobus serve` processes on loopback ephemeral ports, stopped when stdin closes."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
ZEROBUS = os.environ.get("ZEROBUS_BIN", str(ROOT / "target" / "debug" / "zerobus"))
TABLE = "main.default.events"


class Server:
    """One `zerobus serve`; `env` holds what it printed (ZEROBUS_ENDPOINT, ...)."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [ZEROBUS, "serve", "--grpc-addr", "127.0.0.1:0", "--token-addr", "127.0.0.1:0", "--exit-on-stdin-close", *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.env: Dict[str, str] = {}
        assert self.proc.stdout is not None
        while "ZEROBUS_TABLES" not in self.env:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("zerobus serve exited before printing its addresses")
            key, _, value = line.strip().partition("=")
            self.env[key] = value

    @property
    def endpoint(self) -> str:
        return self.env["ZEROBUS_ENDPOINT"]

    @property
    def workspace(self) -> str:
        return self.env["ZEROBUS_WORKSPACE_URL"]

    @property
    def client_id(self) -> str:
        return self.env["ZEROBUS_CLIENT_ID"]

    @property
    def client_secret(self) -> str:
        return self.env["ZEROBUS_CLIENT_SECRET"]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def silent_server() -> Iterator[Server]:
    """Stores records but never acknowledges them: streams fill up to their bounds."""
    s = Server("--withhold-acks")
    yield s
    s.stop()


def run_python(code: str, env: Dict[str, str], timeout: float = 30) -> "subprocess.CompletedProcess[str]":
    """Runs `code` in a fresh interpreter (the one running the tests)."""
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


def example(name: str) -> List[str]:
    return [sys.executable, str(ROOT / "bindings-python" / "examples" / name)]
