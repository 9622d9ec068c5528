"""Real receivers for the notices' tests: an SMTP server (aiosmtpd) and a webhook receiver
(http.server) on 127.0.0.1 that verifies every request's signature with `standardwebhooks`."""

import email
import json
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook

from tests.support import free_port


class SmtpSink:
    """An SMTP server keeping each message it receives, parsed (email.message.EmailMessage)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


class Receiver:
    """A webhook receiver: answers each POST with the next of `statuses` (then 204), after
    `delay` seconds; keeps (time, headers, body, verified payload or the verification error).
    A receiver that keeps the webhook-ids it has seen acts on each notice once: `acted`."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.statuses: list[int] = []
        self.delay = 0.0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.monotonic()
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    delay = receiver.delay
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = {"time": arrived, "headers": headers, "body": body}
                try:
                    record["payload"] = Webhook(receiver.secret).verify(body, headers)
                except Exception as exc:  # the test asserts there is none
                    record["error"] = repr(exc)
                with receiver.lock:
                    receiver.requests.append(record)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[str]:
        with self.lock:
            return [r["headers"]["webhook-id"] for r in self.requests]

    def acted(self) -> list[dict]:
        """The verified payloads, once per webhook-id, in arrival order."""
        seen, out = set(), []
        with self.lock:
            for r in self.requests:
                if "payload" in r and r["headers"]["webhook-id"] not in seen:
                    seen.add(r["headers"]["webhook-id"])
                    out.append(r["payload"])
        return out


def parts(message) -> dict[str, str]:
    """text/plain, text/html and text/calendar contents of a parsed message."""
    out = {}
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html", "text/calendar"):
            out[part.get_content_type()] = part.get_content()
    return out


def payload_types(receiver: Receiver) -> list[str]:
    return [p["type"] for p in receiver.acted()]


def as_json(body: bytes) -> dict:
    return json.loads(body)
