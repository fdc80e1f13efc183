"""An aiohttp application served in the caller's event loop: the base of the fake DTEK site (the demo, the
tests), of the tests' fakes of Telegram and Discord (all on 127.0.0.1), and of the metrics endpoint."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class LocalServer:
    """Serves :meth:`make_app` on ``host`` between :meth:`start` and :meth:`stop` (or ``async with``)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, port: int = 0) -> None:
        """Port 0 takes any free port; :attr:`base_url` tells which."""
        # No signal handlers: the server runs inside its host's event loop. A short shutdown: a fake
        # releases its long polls before stopping, nothing else lingers.
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, port).start()
        except BaseException:  # the port is taken, say: nothing may stay open
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]  # of the one site just started
        self._runner, self._base_url = runner, f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
