"""Tell whether a Kafka broker answers at an address, without any client library.

Sends one ApiVersions (v0) request: only a real broker answers it with the same
correlation id and error code 0, so an unrelated server on the port is not mistaken for one.
:func:`brokers_known` asks one Metadata (v1) request, to tell when every node of a
cluster has registered.
"""

from __future__ import annotations

import socket
import struct

_API_VERSIONS = 18
_METADATA = 3
_CORRELATION_ID = 0x5E6D


def _request(
    client_id: bytes = b"sendguard-probe",
    api: int = _API_VERSIONS,
    version: int = 0,
    body: bytes = b"",
) -> bytes:
    header = struct.pack(">hhih", api, version, _CORRELATION_ID, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


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


def brokers_known(host: str, port: int, timeout: float = 2.0) -> int:
    """How many brokers the broker at ``host:port`` knows to be alive (0 if it does not
    answer): the brokers of a Metadata v1 response, asked for no topic."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_request(api=_METADATA, version=1, body=struct.pack(">i", 0)))
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            if size < 8:
                return 0
            correlation_id, brokers = struct.unpack(">ii", _recv_exactly(sock, 8))
            return brokers if correlation_id == _CORRELATION_ID else 0
    except (OSError, struct.error):
        return 0


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
