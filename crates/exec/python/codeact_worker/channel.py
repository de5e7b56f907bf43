"""Message framing. The control channel (engine <-> zygote) is a SOCK_SEQPACKET socket with
one JSON object per message and file descriptors passed alongside; the worker channel is a
stream of 4-byte big-endian length + JSON frames."""

import json
import socket
import struct
import threading


def seq_send(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def seq_recv(sock):
    """One message and the descriptors that came with it; (None, []) once the peer closed."""
    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
    if not data:
        return None, []
    return json.loads(data), fds


class Channel:
    """The worker's stream socket: length-prefixed JSON frames, one writer lock."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, obj):
        data = json.dumps(obj, ensure_ascii=True).encode()
        with self.lock:
            self.sock.sendall(struct.pack(">I", len(data)) + data)

    def recv(self):
        """The next frame; None once the peer closed the stream."""
        head = self._exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        body = self._exact(n)
        if body is None:
            return None
        return json.loads(body)

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)
