"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: records every message it accepts."""

import asyncio
import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    def __init__(self):
        self.messages = []  # (envelope recipients, parsed message)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


class HoldingRecorder(Recorder):
    """Records the first message, then holds back its "250" until `release` is set: the client has sent
    everything but cannot know whether it arrived (a worker killed now leaves an uncertain attempt)."""

    def __init__(self):
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if not self.holding.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return reply


def start_server(port, recorder):
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    return controller
