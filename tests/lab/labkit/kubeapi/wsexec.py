"""pods/exec over WebSocket: the v4 and v5 channel protocols, a real subprocess behind them."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import select
import struct
import subprocess
import threading
import time

LOG = logging.getLogger("labkit.kubeapi")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CHUNK = 256 * 1024
FRAME_MAX = 4 * 1024 * 1024
EXEC_START_SECONDS = 0.1     # from the upgrade to the first output (see run_exec)


def choose_protocol(offered):
    """The first protocol the client offered that we speak (None when none)."""
    for proto in [p.strip() for p in (offered or "").split(",") if p.strip()]:
        if proto in PROTOCOLS:
            return proto
    return None


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WebSocket:
    """A server-side WebSocket on an already upgraded socket (frames from the client are masked)."""

    def __init__(self, sock, rfile):
        self.sock = sock
        self.rfile = rfile
        self.send_lock = threading.Lock()
        self.closed = False

    def send(self, payload, opcode=2):
        """Send one frame (binary by default)."""
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self.send_lock:
            if self.closed and opcode != 8:
                raise OSError("websocket closed")
            self.sock.sendall(header + payload if length < 65536 else header)
            if length >= 65536:
                self.sock.sendall(payload)

    def send_channel(self, channel, data):
        """Send ``data`` on a channel."""
        self.send(bytes([channel]) + data)

    def close(self, code=1000):
        """Send a close frame (once)."""
        with self.send_lock:
            if self.closed:
                return
        try:
            self.send(struct.pack("!H", code), opcode=8)
        except OSError:
            pass
        with self.send_lock:
            self.closed = True

    def _read_exact(self, count):
        data = b""
        while len(data) < count:
            chunk = self.rfile.read(count - len(data))
            if not chunk:
                raise EOFError("websocket closed by peer")
            data += chunk
        return data

    def recv(self):
        """One message: (opcode, payload); pings are answered here."""
        message, msg_op = b"", None
        while True:
            head = self._read_exact(2)
            fin, opcode = head[0] & 0x80, head[0] & 0x0F
            masked, length = head[1] & 0x80, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if masked else None
            payload = self._read_exact(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 9:
                self.send(payload, opcode=10)
                continue
            if opcode == 10:
                continue
            if opcode == 8:
                return 8, payload
            if opcode != 0:
                msg_op = opcode
            message += payload
            if fin:
                return msg_op, message


def exit_status(code):
    """The Status the kubelet sends on the error channel."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: exit status %d" % code,
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def run_exec(ws, protocol, argv, want_stdin, want_stdout, want_stderr, cwd=None):
    """Run ``argv`` and pump its streams over ``ws`` until it exits; sends the status and closes."""
    # pylint: disable=too-many-arguments,too-many-positional-arguments,too-many-statements
    v5 = protocol == "v5.channel.k8s.io"
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, close_fds=True, start_new_session=True)
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        try:
            ws.send_channel(STDERR, ("exec: %s\n" % exc).encode())
            ws.send_channel(ERROR, json.dumps(exit_status(code)).encode())
        except OSError:
            pass
        ws.close()
        return code
    for chan in ([STDOUT] if want_stdout else []) + ([STDERR] if want_stderr else []):
        try:
            ws.send_channel(chan, b"")
        except OSError:
            pass
    # a container's process starts some time after the upgrade; kubectl (client-go's WebSocket
    # executor) creates its streams after the upgrade too and drops frames of streams it has not
    # created yet ("Unknown stream id"): under load a fast command's whole output could go
    time.sleep(EXEC_START_SECONDS)

    def readable(poller):
        # poll, not select: a busy lab daemon holds more than FD_SETSIZE (1024) descriptors
        return bool(poller.poll(0))

    def pump(pipe, channel, enabled):
        fd = pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        try:
            while True:
                data = os.read(fd, CHUNK)
                if not data:
                    break
                # gather what is ready into frames of up to FRAME_MAX: clients that append each frame to
                # one buffer (the Python client) copy far less with few big frames than with many pipe-sized ones
                parts, size, eof = [data], len(data), False
                while size < FRAME_MAX and readable(poller):
                    more = os.read(fd, CHUNK)
                    if not more:
                        eof = True
                        break
                    parts.append(more)
                    size += len(more)
                if enabled:
                    ws.send_channel(channel, b"".join(parts))
                if eof:
                    break
        except OSError:
            try:
                proc.kill()
            except OSError:
                pass
        finally:
            pipe.close()

    def reader():
        try:
            while True:
                opcode, payload = ws.recv()
                if opcode == 8:
                    break
                if not payload:
                    continue
                channel, data = payload[0], payload[1:]
                if channel == STDIN and proc.stdin is not None:
                    if data:
                        proc.stdin.write(data)
                        proc.stdin.flush()
                elif channel == CLOSE and v5 and data[:1] == bytes([STDIN]) and proc.stdin is not None:
                    proc.stdin.close()
        except (EOFError, OSError, ValueError):
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        finally:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except (OSError, ValueError):
                    pass

    threads = [threading.Thread(target=pump, args=(proc.stdout, STDOUT, want_stdout), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, STDERR, want_stderr), daemon=True)]
    for thread in threads:
        thread.start()
    read_thread = threading.Thread(target=reader, daemon=True)
    read_thread.start()
    for thread in threads:
        thread.join()
    code = proc.wait()
    if code < 0:
        code = 128 - code
    try:
        ws.send_channel(ERROR, json.dumps(exit_status(code)).encode())
    except OSError:
        pass
    ws.close()
    return code
