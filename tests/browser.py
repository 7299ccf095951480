"""A headless Chromium driven over the DevTools protocol, for the review page's tests: the operating
system's browser (``scripts/setup.sh`` installs Debian's ``chromium``), nothing downloaded at run time.
Every request the page makes is recorded (``requests``), and the browser is started with a proxy that
goes nowhere, so a page that reached for the network would both fail and be seen doing it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


class Browser:
    def __init__(self, executable: str, timeout: float = 60.0):
        import websocket  # websocket-client (the test extra)

        self.profile = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile.name}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
             "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,  # its own group: all stop
            env=dict(os.environ, TMPDIR=self.profile.name))  # its shared-memory files too: nothing left in /tmp
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self.next_id, self.events, self.requests = 0, [], []
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Runtime.enable")

    def send(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message: dict) -> None:
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        self.events.append(message.get("method"))

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a promise awaited); a thrown error raises."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60.0) -> None:
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while self.evaluate("document.readyState") != "complete" or not self.evaluate("!!window.lrcnReview"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: did not load")
            time.sleep(0.05)

    def wait_for(self, expression: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {expression}")
            time.sleep(0.05)
        return value

    def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element ``selector`` finds (scrolled into view)."""
        box = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
                            "return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def key(self, key: str) -> None:
        """A key press as a person types it."""
        code = {" ": "Space"}.get(key, f"Key{key.upper()}" if key.isalpha() else key)
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            import signal

            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)  # the browser and its helpers, which write into the profile too
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # any helper the browser left behind
            except (ProcessLookupError, PermissionError):
                pass
            for _ in range(50):  # a helper still exiting may write a last file: retry for up to 5 s
                try:
                    shutil.rmtree(self.profile.name)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            self.profile.cleanup()  # gone already (or whatever is left, once more)
