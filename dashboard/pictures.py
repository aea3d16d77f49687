"""Charts as PNG pictures (the PNG buttons, the deck), drawn by kaleido in one Chromium kept for the process.

Plotly's `fig.to_image` starts a Chromium for each picture and stops it afterwards: 1–2 s a chart, and under load
a stop that never finished (kaleido waited on the browser's exit for ever) hung a deck's download for good (twice
in the last few dozen runs of the browser tests, once in four under load). Here one browser serves every picture,
started on first use; each picture waits at most `WAIT_S`, and a browser that did not answer in time is left
behind and the next picture starts a fresh one, so one stuck browser costs one error message, not every export
after it.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import plotly.graph_objects as go

WAIT_S = 120  # the most a picture may take (kaleido's own render timeout is 90 s) before it is given up
CLOSE_S = 10  # the most exit waits for the browser to close


class PictureError(RuntimeError):
    """A picture could not be drawn (the caller turns it into the user's message)."""


class _Browser:
    """One kaleido session in its own thread: pictures go in through an asyncio queue, one at a time. The thread
    is a daemon and nothing else waits on it, so the process exits as usual; at exit the browser is closed."""

    def __init__(self) -> None:
        started = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(started),), name="phb-pictures",
                                       daemon=True)
        self.thread.start()
        started.wait()
        atexit.register(self.close)

    async def _serve(self, started: threading.Event) -> None:
        self.loop, self.requests = asyncio.get_running_loop(), asyncio.Queue()
        started.set()
        try:
            import kaleido

            async with kaleido.Kaleido() as k:
                while (request := await self.requests.get()) is not None:
                    fig, opts, done = request
                    try:
                        done.set_result(await k.calc_fig(fig, opts=opts))
                    except Exception as e:  # noqa: BLE001 - handed to the waiting caller
                        done.set_exception(e)
        except Exception as e:  # noqa: BLE001 - the browser did not start: every waiting caller hears why
            while (request := await self.requests.get()) is not None:
                request[2].set_exception(e)

    def draw(self, fig: dict, opts: dict) -> Future:
        done: Future = Future()
        self.loop.call_soon_threadsafe(self.requests.put_nowait, (fig, opts, done))
        return done

    def close(self) -> None:
        """Close the browser (at exit): a few seconds at most, then it is left to the operating system."""
        self.loop.call_soon_threadsafe(self.requests.put_nowait, None)
        self.thread.join(CLOSE_S)


_BROWSER: _Browser | None = None
_LOCK = threading.Lock()


def png_bytes(fig: go.Figure, width: int, height: int, scale: float) -> bytes:
    """The chart as PNG bytes, drawn in the shared browser (started here on first use)."""
    global _BROWSER
    with _LOCK:
        if _BROWSER is None:
            _BROWSER = _Browser()
        browser = _BROWSER
    done = browser.draw(fig.to_dict(), {"format": "png", "width": width, "height": height, "scale": scale})
    try:
        return done.result(timeout=WAIT_S)
    except FutureTimeout:
        with _LOCK:
            if _BROWSER is browser:
                _BROWSER = None  # left behind: the next picture starts a fresh browser
        raise PictureError(f"Chromium did not draw the picture within {WAIT_S} s") from None
