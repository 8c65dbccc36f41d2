"""An impostor on a UE's port: plain stdlib, no syft-fl import (run as another local user where possible).

Usage: python impostor.py PORT MODE PAYLOAD_HEX

Listens on 127.0.0.1:PORT (SO_REUSEADDR, as a process taking a freed port would), prints ``listening`` once it
does, then for every connection prints one line ``got <hex of every byte received>`` and answers as MODE says:

- ``forged``: a valid ``101`` upgrade with an ``X-Syft-FL-Proof`` header made up without the secret, then the
  payload as a websocket text frame (and again after whatever the client sends next);
- ``no-proof``: the same ``101`` without the proof header, then the payload frame;
- ``payload``: the payload frame right away, no HTTP at all;
- ``forbidden``: ``403 Forbidden``;
- ``endless``: a ``101`` whose headers never end (until the client hangs up).

The payload is a syft frame whose tensor bytes are a pickle that creates a marker file when unpickled: if the BS
deserialized anything it sent, the marker would appear.
"""
import base64
import hashlib
import os
import socket
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


def text_frame(data):
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([len(data)])
    elif len(data) < 65536:
        head += bytes([126]) + len(data).to_bytes(2, "big")
    else:
        head += bytes([127]) + len(data).to_bytes(8, "big")
    return head + data


def read_request(conn, got):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    got.append(data)
    return data


def answer(conn, mode, payload, got):
    if mode == "payload":
        conn.sendall(text_frame(payload))
        return
    request = read_request(conn, got)
    if mode == "forbidden":
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    if mode == "endless":
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
        while True:
            conn.sendall(b"X-More: " + b"m" * 1000 + b"\r\n")
    key = b""
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
    head = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n")
    if mode == "forged":
        forged = "ue1 {} {}".format(os.urandom(32).hex(), os.urandom(32).hex())  # no secret to make it with
        head += b"X-Syft-FL-Proof: " + forged.encode() + b"\r\n"
    conn.sendall(head + b"\r\n" + text_frame(payload))
    conn.settimeout(2)
    try:
        while True:  # record whatever comes next; answer each chunk with the payload again
            chunk = conn.recv(65536)
            if not chunk:
                break
            got.append(chunk)
            conn.sendall(text_frame(payload))
    except OSError:
        pass


def main():
    port, mode, payload = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    print("listening", os.getuid(), flush=True)
    while True:
        conn, _ = server.accept()
        got = []
        try:
            answer(conn, mode, payload, got)
        except OSError:
            pass
        finally:
            conn.close()
            print("got", b"".join(got).hex(), flush=True)


if __name__ == "__main__":
    main()
