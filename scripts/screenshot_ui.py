"""Takes the README's pictures of the Dagster UI: the lineage of every asset
(docs/asset-graph.png), one asset's checks (docs/asset-checks.png) and the schedules and sensors
(docs/automation.png).

Re-run it after changing assets, groups or checks (from the repo root, after `make test` or
`make demo` has installed the project into .venv):

    apt-get install -y chromium          # Debian's Chromium, once; no downloaded browser
    .venv/bin/python scripts/screenshot_ui.py
    .venv/bin/python scripts/screenshot_ui.py --out /tmp/pictures --width 1600 --height 1000

What it does, all on 127.0.0.1 and in a temporary folder (`data/`, `.dagster_home/` and any
`.env` of the repo are left alone, and nothing leaves the machine):

1. serves both vendors from the bundled fake API (`eventsync_dev.fake_api`);
2. materializes every asset once with `dagster asset materialize`, into a temporary DuckDB file
   and a temporary DAGSTER_HOME holding the repo's `instance/dagster.yaml`, so the graph shows
   data and checks that passed;
3. starts `dagster-webserver -w workspace.yaml` on a free port and marks the "Join the Dagster
   community" dialog as seen (the `setNuxSeen` mutation its "Skip" button sends);
4. drives headless Chromium through the DevTools protocol (with the `websockets` package, which
   dagster-webserver already depends on): both groups expanded, nodes showing status and checks,
   the sidebar hidden, the graph zoomed to fit the window, then a PNG; then `luma/events`'s
   checks tab and the automation page, each once its content has rendered.
"""

import argparse
import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

from eventsync_dev.demo import demo_environment
from eventsync_dev.fake_api import Dataset, FakeApi

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_OUT = REPO / "docs"
CHECKS_ASSET = "luma/events"
PAGES = {
    # picture: (path, text that shows the page has rendered)
    "asset-checks.png": (
        f"/assets/{CHECKS_ASSET}?view=checks&checkDetail=primary_key_unique",
        "duplicate_keys",
    ),
    "automation.png": ("/automation", "luma_change_sensor"),
}
"""The pictures besides the graph's, each a page and what it must show before the shot."""
PROJECT_VARIABLES = ("LUMA_", "EVENTEE_", "EVENTSYNC_", "SOURCES__", "DESTINATION")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    # Only loopback: every other host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
]
UI_SETTINGS = {
    # The UI keeps these in localStorage (`useStateWithStorage`): left-to-right lineage, and
    # nodes small enough for eleven assets to fit the window above the UI's minimal-node zoom.
    "asset-graph-direction": "horizontal",
    "asset-node-facets": ["status", "checks"],
}
MINIMAL_SCALE = 0.6
"""Below this zoom the UI draws each asset as a bare name (`MINIMAL_SCALE` in the UI's code)."""


def log(message: str) -> None:
    print(f"screenshot_ui: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process_group(command: list[str], cwd: Path, env: dict[str, str], out: Path) -> Iterator[None]:
    """A process in a session of its own; on exit the whole group goes (SIGKILL after a grace:
    Dagster's processes may ignore SIGTERM)."""
    with out.open("wb") as stream:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)


def graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def wait_for_location(url: str, out: Path, timeout: float = 120) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(requests.RequestException):
            entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        time.sleep(0.5)
    raise RuntimeError(f"the webserver did not load the code location in {timeout:.0f} s:\n"
                       f"{out.read_text(errors='replace')[-3000:]}")  # fmt: skip


def asset_names(url: str) -> dict[str, list[str]]:
    """Each group's assets, by the name the graph shows (the key's last part)."""
    query = "{ assetNodes { groupName assetKey { path } } }"
    groups: dict[str, list[str]] = {}
    for node in graphql(url, query)["assetNodes"]:
        groups.setdefault(node["groupName"], []).append(node["assetKey"]["path"][-1])
    return groups


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and JavaScript evaluation."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def __call__(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:  # events arrive in between; only the answer to this call matters
            message = json.loads(self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str) -> Any:
        result = self("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.25)
        raise RuntimeError(f"timed out waiting for {expression}")

    def wheel(self, x: float, y: float, dx: float, dy: float, ctrl: bool = False) -> None:
        self(
            "Input.dispatchMouseEvent",
            type="mouseWheel",
            x=x,
            y=y,
            deltaX=dx,
            deltaY=dy,
            modifiers=2 if ctrl else 0,
        )
        time.sleep(0.3)  # the UI throttles wheel events to one a frame


@contextmanager
def chromium(executable: str, profile: Path, width: int, height: int) -> Iterator[DevTools]:
    command = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    command += [f"--window-size={width},{height}", "about:blank"]
    with process_group(command, profile.parent, dict(os.environ), profile.parent / "chromium.log"):
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port in 30 s")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield DevTools(ws)


GRAPH = "document.querySelector('svg[class*=svgContainer]')"
GEOMETRY = f"""(() => {{
  const svg = {GRAPH};
  if (!svg) return null;
  const g = svg.getBoundingClientRect();
  const v = svg.parentElement.parentElement.getBoundingClientRect();
  return {{width: +svg.getAttribute('width'), height: +svg.getAttribute('height'),
          x: g.x, y: g.y, w: g.width, h: g.height,
          vx: v.x, vy: v.y, vw: v.width, vh: v.height}};
}})()"""


def zoom_to_fit(page: DevTools, margin: float = 24) -> float:
    """Zoom (ctrl + wheel) until the whole graph fits, then pan (wheel) it to the centre.

    The UI's own "zoom to fit" fits the width only; this fits both ways.
    """
    for _ in range(6):
        g = page.js(GEOMETRY)
        scale = g["w"] / g["width"]
        target = min(1.0, (g["vw"] - 2 * margin) / g["width"], (g["vh"] - 2 * margin) / g["height"])
        cx, cy = g["vx"] + g["vw"] / 2, g["vy"] + g["vh"] / 2
        if abs(target - scale) > 0.005:
            # The UI: scale * (1 - deltaY * 0.002) for |deltaY| > 30, else 0.01 per unit.
            factor = 1 - target / scale
            delta = factor / 0.002
            page.wheel(cx, cy, 0, delta if abs(delta) > 30 else factor / 0.01, ctrl=True)
            continue
        dx, dy = cx - (g["x"] + g["w"] / 2), cy - (g["y"] + g["h"] / 2)
        if abs(dx) > 2 or abs(dy) > 2:
            page.wheel(cx, cy, -dx / 0.7, -dy / 0.7)  # the UI pans by -delta * 0.7
            continue
        return scale
    raise RuntimeError(f"could not fit the graph: {page.js(GEOMETRY)}")


def capture(page: DevTools, out: Path) -> None:
    if page.js("document.body.innerText.includes('Join the Dagster community')"):
        raise RuntimeError("the community dialog is still open")
    time.sleep(1)
    data = page("Page.captureScreenshot", format="png")["data"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(data))
    log(f"wrote {out}")


def screenshot(url: str, groups: dict[str, list[str]], out: Path, executable: str, tmp: Path,
               width: int, height: int) -> float:  # fmt: skip
    expanded = [f"global@global:{g}" for g in groups]  # the UI's ids of groups
    settings = "".join(
        f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});"
        for k, v in UI_SETTINGS.items()
    )
    with chromium(executable, tmp / "chromium-profile", width, height) as page:
        page("Emulation.setDeviceMetricsOverride", width=width, height=height,
             deviceScaleFactor=1, mobile=False)  # fmt: skip
        page("Page.enable")
        page("Page.addScriptToEvaluateOnNewDocument", source=settings)
        page("Page.navigate", url=f"{url}/asset-groups?expanded={','.join(expanded)}")
        page.wait_for(f"!!{GRAPH}")
        # The asset sidebar ("Jump to...") repeats the group names: hide it, for room.
        page.js(
            "document.querySelector('input[placeholder^=\"Jump to\"]').parentElement"
            ".closest(':has(button [aria-label=panel_show_right])')"
            ".querySelector('button:has([aria-label=panel_show_right])').click()"
        )
        time.sleep(1)
        scale = zoom_to_fit(page)
        names = json.dumps(sorted({n for names in groups.values() for n in names}))
        page.wait_for(
            f"{names}.every(n => {GRAPH}.textContent.includes(n))"
            f" && !{GRAPH}.textContent.includes('Loading')"
        )
        capture(page, out / "asset-graph.png")
        for name, (path, shows) in PAGES.items():
            page("Page.navigate", url=f"{url}{path}")
            page.wait_for(f"document.body.innerText.includes({json.dumps(shows)})")
            page.wait_for("!document.body.innerText.includes('Loading')", timeout=30)
            capture(page, out / name)
    return scale


def project_environment(api: FakeApi, tmp: Path) -> dict[str, str]:
    """The environment pointed at the fake API, without any of the user's project settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "instance" / "dagster.yaml", home / "dagster.yaml")
    return {
        **env,
        **demo_environment(api),
        "EVENTSYNC_DUCKDB_PATH": str(tmp / "warehouse" / "eventsync.duckdb"),
        "DAGSTER_HOME": str(home),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the pictures' folder")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    if not shutil.which(args.chromium):
        log("Chromium not found: `apt-get install -y chromium` (Debian's package)")
        return 1

    with tempfile.TemporaryDirectory(prefix="eventsync-screenshot-") as name, FakeApi(
        dataset=Dataset(events=8, guests_per_event=5, participants=20)
    ) as api:  # fmt: skip
        tmp = Path(name)
        env = project_environment(api, tmp)
        # Outside the repo: Dagster's CLIs load `.env` from their working directory.
        log("materializing every asset against the fake API")
        materialize = [sys.executable, "-m", "dagster", "asset", "materialize",
                       "-m", "eventsync_dagster.definitions", "--select", "*"]  # fmt: skip
        done = subprocess.run(materialize, cwd=tmp, env=env, capture_output=True, text=True)
        if done.returncode:
            log(f"the run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
            return done.returncode

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = [str(BIN / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"),
                  "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
        with process_group(server, tmp, env, tmp / "webserver.log"):
            log(f"starting dagster-webserver on {url}")
            wait_for_location(url, tmp / "webserver.log")
            graphql(url, "mutation { setNuxSeen }")
            groups = asset_names(url)
            log(f"taking the screenshot of groups {', '.join(sorted(groups))}")
            scale = screenshot(url, groups, args.out, args.chromium, tmp, args.width, args.height)
    if scale < MINIMAL_SCALE:
        log(f"warning: zoom {scale:.2f} draws bare names; try a larger --height")
    log(f"the graph's zoom: {scale:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
