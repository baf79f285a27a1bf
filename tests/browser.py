"""JupyterLab from the course's environment and Debian's Chromium, for tests/test_browser.py.

Chromium is Debian's package (`apt-get install chromium`), started by Playwright's Python package through
`executable_path`; Playwright's own browser download is never used (it is not reachable from the test
machines). Both processes belong to the test: it starts them and stops them, also when it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# --headless and a fresh profile, and no traffic of its own: without the networking flags Chromium keeps
# trying to reach Google's services, which floods a closed network with connection attempts.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm; Debian's launcher adds this flag too
]

INSTALL_CHROMIUM = "apt-get install chromium (./course test installs it when it runs as root)"
INSTALL_PLAYWRIGHT = "pip install -e '.[test]' (./course test installs it)"


def chromium_executable() -> str | None:
    """Debian's Chromium binary. The real one first, not the /usr/bin/chromium launcher: the launcher
    sources /etc/chromium.d, which adds Google API keys and remote extensions (more network traffic)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`jupyter lab` from this interpreter's environment, serving `root` on 127.0.0.1 with a random token.

    Config, data, runtime and IPython folders are private (under `home`), so nothing from the machine's
    own Jupyter set-up leaks in: only the environment's own extensions (nbgrader's) are loaded. `start()`
    returns once the server answers; `stop()` (or use it as a context manager). `url(path)` is an address
    with the token, for the first page a person opens (the server then keeps them logged in by cookie).
    """

    def __init__(self, root: Path, home: Path, start_timeout: float = 60.0):
        self.root, self.home, self.start_timeout = Path(root), Path(home), start_timeout
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str = "lab") -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def _environment(self) -> dict:
        env = dict(os.environ)
        folders = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython"}
        for name, folder in folders.items():
            env[name] = str(self.home / folder)
            (self.home / folder).mkdir(parents=True, exist_ok=True)
        env.pop("JUPYTER_TOKEN", None)
        env.pop("JUPYTER_PORT", None)
        bin_dir = str(Path(sys.executable).parent)  # kernels and nbgrader's tools from this environment
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        # No "get notified about Jupyter news?" toast and no news fetching: user settings live in the
        # private config folder.
        settings = self.home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        return env

    def start(self) -> "JupyterLab":
        command = [
            str(Path(sys.executable).with_name("jupyter")),
            "lab",
            "--no-browser",
            "--allow-root",  # test machines and CI containers run as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI queries
        ]
        env = self._environment()
        with open(self.log_path, "wb") as log:
            # Its own session, so stopping it never touches the test's process group. The working folder is
            # the course root: nbgrader's formgrader and Validate read ./nbgrader_config.py from there.
            self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_it_answers()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        request = urllib.request.Request(f"{self.base}/api/status", headers={"Authorization": f"token {self.token}"})
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"jupyter lab did not answer on {self.base} within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM lets the server shut its kernels down; SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
