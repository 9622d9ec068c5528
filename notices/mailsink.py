"""The embedded mail sink of `make run`: an SMTP server (aiosmtpd) on 127.0.0.1 that keeps
every message it is given as one .eml file, for the staff page /dev/mail/. Development only:
it accepts anything and sends nothing on.

    python -m notices.mailsink --port 2525 --dir .data/mail
"""

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server, session, envelope) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}.eml"
        # Written whole, then renamed: the page never reads half a message.
        partial = self.folder / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        os.replace(partial, self.folder / name)
        return "250 Message accepted for delivery"


def serve(*, port: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    stopped = asyncio.Event()
    loop = asyncio.new_event_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        loop.run_until_complete(stopped.wait())
    finally:
        controller.stop()
        loop.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(port=args.port, folder=args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
