"""HTTP under ASGI in one thread hop per request: Django's whole (synchronous) stack in a thread.

Django's own ASGIHandler runs a synchronous project in many small hops between the event loop
and threads: a new thread per request (asgiref's ThreadSensitiveContext), then for each request
the request_started signal, the synchronous middleware, back to the loop for the async-capable
middleware below the first synchronous one, to the thread again for the view, back up, and
response.close() (request_finished) — each hop waiting for the GIL behind whatever else runs
(up to the interpreter's switch interval, 5 ms). Every view and middleware here is synchronous,
so that bought nothing but latency: at 200 requests/s a trivial endpoint queued for seconds.

This handler reads the body on the event loop, then runs everything else for the request in
one call on a fixed pool of threads (PEREGRINE_WEB_THREADS): the request_started and
request_finished signals, the middleware chain loaded in synchronous mode and the view, exactly
as under WSGI (one thread per request, database connections thread-local and given back to the
pool at request_finished). The answer is sent from the loop. A streaming response is iterated
in the same thread as its view (its queries use the same connection) and each chunk is handed
to the loop as it comes, so a long export is streamed, not buffered; its thread is held until
the stream ends. The pool bounds how many requests run at once: a burst queues here in arrival
order instead of hundreds of threads sharing the GIL and the database pool at the same time;
a request whose client went away while it queued is dropped unanswered, not run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.core import signals
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

logger = logging.getLogger("django.request")


class SyncStackASGIHandler(ASGIHandler):
    """Django's ASGI HTTP handler with the synchronous stack run in one thread per request."""

    def __init__(self, threads: int) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except base.RequestAborted:
            return
        loop = asyncio.get_running_loop()
        gone = threading.Event()
        listener = asyncio.create_task(self._listen_for_disconnect(receive, gone))
        try:
            answer = await loop.run_in_executor(
                self.executor, self._respond, scope, body_file, loop, send, gone
            )
        finally:
            listener.cancel()
            body_file.close()
        if answer is not None:  # not streamed: the whole body at once
            start, body = answer
            await send(start)
            await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _listen_for_disconnect(receive, gone: threading.Event) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    def _respond(self, scope, body_file, loop, send, gone):
        """In a pool thread: the request through Django; its start message and body, or None
        when it was streamed from here (or the client left while it queued)."""
        if gone.is_set():  # nobody waits for the answer: a burst's backlog clears sooner
            return None
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        response = None
        try:
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self.get_response(request)
                response._handler_class = self.__class__
            start = self._start_message(response)
            if not response.streaming:
                return start, response.content
            self._stream(response, start, loop, send)
            return None
        finally:
            if response is not None:
                response.close()  # sends request_finished: the database connection goes back
            else:
                signals.request_finished.send(sender=self.__class__)

    def _stream(self, response, start, loop, send) -> None:
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size

        def push(message) -> None:
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        push(start)
        try:
            for part in response:
                for chunk, _ in self.chunk_bytes(part):
                    push({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception:
            # the status line is gone already: log, and end the body where it stands
            logger.exception("Streaming response failed: %s", response)
        push({"type": "http.response.body"})

    @staticmethod
    def _start_message(response) -> dict:
        headers = []
        for header, value in response.items():
            if isinstance(header, str):
                header = header.encode("ascii")
            if isinstance(value, str):
                value = value.encode("latin1")
            headers.append((bytes(header), bytes(value)))
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
        return {"type": "http.response.start", "status": response.status_code, "headers": headers}
