"""Tell whether a Kafka broker answers at an address, without any client library.

Sends one ApiVersions (v0) request: only a real broker answers it with the same
correlation id and error code 0, so an unrelated server on the port is not mistaken for one.
"""

from __future__ import annotations

import socket
import struct

_API_VERSIONS = 18
_CORRELATION_ID = 0x5E6D


def _request(client_id: bytes = b"sendguard-probe") -> bytes:
    body = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(client_id)) + client_id
    return struct.pack(">i", len(body)) + body


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def broker_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_request())
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if size < 6:
                return False
            correlation_id, error_code = struct.unpack(">ih", _recv_exactly(sock, 6))
            return correlation_id == _CORRELATION_ID and error_code == 0
    except (OSError, struct.error):
        return False


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
