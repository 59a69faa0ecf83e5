"""Servers under test: Python subprocesses on 127.0.0.1, always stopped on exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import IO

import aiohttp

HOST = "127.0.0.1"
POOL_SIZE = 20
COMMAND_TIMEOUT_SECONDS = 120.0
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_CHARS = 3000


class ServerError(RuntimeError):
    """A server under test did not start, or a setup command failed."""


def hub_env(database_url: str) -> dict[str, str]:
    """The environment of every child: dev mode, quiet logs, in-process jobs, pool of 20,
    and rate limits out of the way (the load comes from one address and a few actors)."""
    env = {key: value for key, value in os.environ.items() if key != "HUB_REDIS_URL"}
    env.update(
        HUB_ENV="dev",
        HUB_DATABASE_URL=database_url,
        HUB_LOG_LEVEL="warning",
        HUB_DB_POOL_SIZE=str(POOL_SIZE),
        HUB_RATE_LIMIT_PER_IP="1000000",
        HUB_RATE_LIMIT_PER_ACTOR="1000000",
    )
    return env


async def run_hub_command(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run ``python -m hub.cli ARGS`` to completion; return its output or raise ServerError."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_SECONDS)
    finally:
        await _stop(process)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise ServerError(
            f"hub {' '.join(args)} exited with status {process.returncode}:\n"
            f"{text[-LOG_TAIL_CHARS:]}"
        )
    return text


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(
    name: str, args: Sequence[str], env: Mapping[str, str], port: int
) -> AsyncIterator[str]:
    """Run ``python ARGS``, wait until GET /healthz answers 200, yield the base URL."""
    base_url = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            await _wait_healthy(name, process, base_url, log)
            yield base_url
        finally:
            await _stop(process)


async def _wait_healthy(
    name: str, process: asyncio.subprocess.Process, base_url: str, log: IO[bytes]
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_SECONDS
    timeout = aiohttp.ClientTimeout(total=1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise ServerError(f"{name} exited with status {process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{base_url}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise ServerError(
        f"{name} did not answer {base_url}/healthz within {START_TIMEOUT_SECONDS:g} s:\n"
        f"{_tail(log)}"
    )


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-LOG_TAIL_CHARS:]
