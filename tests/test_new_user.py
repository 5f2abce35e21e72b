"""What a new user trips over on a fresh clone (issue 9, part 3)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Api, LivegateProcess, free_port, run_briefly


def test_a_busy_port_is_one_line_and_exit_2_before_anything_else() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for command in ("demo", "serve"):
            result = run_briefly(command, port=port, env={"LIVEGATE_API_KEY": ""})
            assert result.returncode == 2
            assert result.stdout == f"livegate: port {port} is in use; try --port\n"


def test_the_demo_banner_says_how_to_publish_and_watch_from_another_terminal() -> None:
    result = run_briefly("demo", env={"LIVEGATE_API_KEY": ""})
    assert result.returncode == 0, result.stdout
    export = [line.strip() for line in result.stdout.splitlines() if "export " in line]
    assert len(export) == 1 and export[0].startswith("export LIVEGATE_API_KEY=")
    key = export[0].split("=", 1)[1]
    assert f"API key:    {key}" in result.stdout
    watch = next(line for line in result.stdout.splitlines() if "watch one:" in line)
    program = watch.split("watch one:")[1].split()[0]
    # A command that runs as printed, from any directory.
    shown = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0 and shown.stdout.startswith("livegate ")


def test_help_texts_carry_no_markup() -> None:
    for command in ("serve", "demo", "cluster", "publish", "events", "replay", "watch"):
        shown = subprocess.run(
            [sys.executable, "-m", "livegate", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0 and "``" not in shown.stdout, command


README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture
def demo() -> Iterator[tuple[int, str]]:
    """``livegate demo`` as ``make run`` starts it (no key given): its port and the key
    from the ``export`` line its banner prints."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LIVEGATE_API_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "livegate", "demo", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    key = ""
    try:
        for line in proc.stdout:
            if line.strip().startswith("export LIVEGATE_API_KEY="):
                key = line.strip().split("=", 1)[1]
            if "listening on" in line:
                break
        assert key, "the banner printed no export line"
        yield port, key
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Traceback" not in out, out


def _on_port(script: str, port: int) -> str:
    return script.replace("localhost:8080", f"127.0.0.1:{port}").replace(
        "127.0.0.1:8080", f"127.0.0.1:{port}"
    )


def test_readme_shell_blocks_work_as_written(demo: tuple[int, str]) -> None:
    port, key = demo
    env = {**os.environ, "LIVEGATE_URL": f"http://127.0.0.1:{port}"}
    tour, scorer, replay = _blocks("sh")[1:4]
    # The tour, without `watch` (it runs until Ctrl-C; the SDK test covers joining).
    lines = [line for line in tour.splitlines() if " watch " not in line]
    ran = _bash("\n".join(lines), port, env)
    assert "demo-cricket" in ran.stdout and '"eventId":"demo-chess"' in ran.stdout
    assert "livegate_connections" in ran.stdout
    # The scorer steps, after pasting the banner's export line.
    ran = _bash(f"export LIVEGATE_API_KEY={key}\n{scorer}", port, env)
    assert not re.search(r"\b401\b|unauthorized", ran.stdout + ran.stderr)  # not in a ts
    assert '"seq": 1' in ran.stdout, ran.stdout + ran.stderr
    assert "422" in ran.stdout + ran.stderr and "invalid_update" in ran.stdout + ran.stderr
    ran = _bash(f"export LIVEGATE_API_KEY={key}\n{replay}", port, env)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def _bash(script: str, port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", _on_port(script, port)],
        cwd=README.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_readme_sdk_snippet_runs_and_stops_on_ctrl_c(demo: tuple[int, str]) -> None:
    port, _key = demo
    snippet = _on_port(_blocks("python")[0], port)
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", snippet],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "'type': 'joined'" in first, first
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "Traceback" not in err, err


async def test_a_mistyped_address_is_a_not_found_page_for_browsers(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    await api.create_event("real-match")
    async with http.get(f"{shared_server.url}/events/real-match", headers=browser) as resp:
        assert resp.status == 200 and "event.js" in await resp.text()
    for path in ("/events/no-such-match", "/events/bad%20id", "/no/such/page"):
        async with http.get(f"{shared_server.url}{path}", headers=browser) as resp:
            body = await resp.text()
            assert resp.status == 404 and resp.content_type == "text/html", path
            assert "Nothing here" in body and 'href="/"' in body
    # The API, and clients that ask for JSON, still get JSON.
    for path, headers in (("/api/nope", browser), ("/no/such/page", {})):
        async with http.get(f"{shared_server.url}{path}", headers=headers) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
