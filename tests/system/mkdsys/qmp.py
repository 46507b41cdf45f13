"""A small QMP client (QEMU Machine Protocol) over a unix socket. Every call has a timeout.

    qmp = QmpClient.connect("/path/qmp.sock", timeout=10)
    qmp.execute("query-status")            -> {"status": "running", ...}
    qmp.wait_event("STOP", timeout=5)      -> the event dict

Events that arrive while waiting for a command's answer are kept in `events` (oldest first).
Errors: QmpError for an error answer, TimeoutError, OSError/ConnectionError when QEMU went away.
Not thread-safe: one thread per client.
"""

import json
import socket
import time
from typing import Any, Dict, List, Optional


class QmpError(RuntimeError):
    def __init__(self, command: str, error: Dict[str, Any]):
        super().__init__(f"QMP {command}: {error.get('class')}: {error.get('desc')}")
        self.error = error


class QmpClient:
    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._buffer = b""
        self._next_id = 0
        self.events: List[Dict[str, Any]] = []

    @classmethod
    def connect(cls, path: str, timeout: float = 10.0) -> "QmpClient":
        """Connects (retrying until the socket exists and accepts), reads the greeting and
        negotiates capabilities."""
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"QMP socket {path} did not accept within {timeout} s")
                time.sleep(0.05)
        client = cls(sock)
        try:
            client._read_message(deadline)  # the greeting
            client.execute("qmp_capabilities", timeout=max(0.1, deadline - time.monotonic()))
        except BaseException:
            sock.close()  # QEMU went away during the handshake: no socket left behind
            raise
        return client

    def close(self) -> None:
        self._sock.close()

    def execute(self, command: str, arguments: Optional[Dict[str, Any]] = None,
                timeout: float = 30.0) -> Any:
        """Runs command and returns its "return" value; raises QmpError on an "error" answer."""
        self._next_id += 1
        request: Dict[str, Any] = {"execute": command, "id": self._next_id}
        if arguments:
            request["arguments"] = arguments
        deadline = time.monotonic() + timeout
        self._sock.settimeout(timeout)
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                self.events.append(message)
            elif message.get("id") == self._next_id:
                if "error" in message:
                    raise QmpError(command, message["error"])
                return message.get("return")

    def wait_event(self, name: str, timeout: float) -> Dict[str, Any]:
        """Returns (and removes) the first event called name, waiting up to timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["event"] == name:
                    return self.events.pop(i)
            message = self._read_message(deadline)
            if "event" in message:
                self.events.append(message)

    def _read_message(self, deadline: float) -> Dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no QMP message in time")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no QMP message in time") from None
            if not chunk:
                raise ConnectionError("QMP connection closed by QEMU")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)
