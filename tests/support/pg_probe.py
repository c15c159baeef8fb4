#!/usr/bin/env python3
"""Asks a real PostgreSQL server how it answers connection attempts (stdlib only).

Used by tests/differential_pg.rs. Reads one JSON object on stdin:

  {"port": 5433, "socket_dir": "/tmp/x", "log": "/tmp/x/server.log",
   "await": {probe} | absent,
   "probes": [{"source": "127.0.0.5" | "::1" | "local", "ssl": true,
               "cert": {"cert": "a.crt", "key": "a.key"} | null,
               "user": "alice", "database": "app", "replication": "false"|"true"|"database"}]}

For each probe, in order and one at a time: connects from that source address (a
socket bound to it; Unix socket for "local"), optionally negotiates TLS (SSLRequest,
then a TLS handshake with the client certificate), sends the startup packet and reads
the server's first answer. When the server asks for a password, the prober answers
with a wrong one (a full SCRAM exchange with a bogus proof for SASL) so that the server
logs the failure with its DETAIL "Connection matched pg_hba.conf line N". The server
writes its log before it answers the client, so the log text appended during the probe
holds that line.

Writes one JSON object per probe on stdout (one line each):
  {"answer": "ok"|"cleartext"|"md5"|"sasl"|"gss"|"sspi"|"error"|"ssl-refused"|"tls-failed"|"io-error",
   "message": "...", "line": 7 | null, "cert_method": true|false}
"""

import base64
import json
import os
import socket
import ssl
import struct
import sys
import time

AUTH_NAMES = {0: "ok", 2: "kerberos", 3: "cleartext", 5: "md5", 7: "gss", 9: "sspi", 10: "sasl"}


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def read_message(sock):
    kind = recv_exact(sock, 1)
    (length,) = struct.unpack("!I", recv_exact(sock, 4))
    return kind, recv_exact(sock, length - 4)


def message(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def startup_packet(probe):
    params = [("user", probe["user"]), ("database", probe["database"])]
    if probe.get("replication", "false") != "false":
        params.append(("replication", probe["replication"]))
    body = struct.pack("!I", 196608)
    for k, v in params:
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def connect(probe, port, socket_dir):
    source = probe["source"]
    if source == "local":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(os.path.join(socket_dir, ".s.PGSQL.%d" % port))
        return s
    v6 = ":" in source
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.bind((source, 0))
    s.connect(("::1" if v6 else "127.0.0.1", port))
    return s


def wrong_password(sock, code, body):
    """Answers an authentication request with a wrong password."""
    if code == 3:
        sock.sendall(message(b"p", b"wrong-password\0"))
    elif code == 5:
        sock.sendall(message(b"p", b"md5" + b"0" * 32 + b"\0"))
    elif code == 10:
        nonce = base64.b64encode(os.urandom(18)).decode()
        first = ("n,,n=,r=" + nonce).encode()
        sock.sendall(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
        kind, reply = read_message(sock)
        if kind != b"R" or struct.unpack("!I", reply[:4])[0] != 11:
            return
        server_first = reply[4:].decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        proof = base64.b64encode(os.urandom(32)).decode()
        final = "c=biws,r=%s,p=%s" % (attrs["r"], proof)
        sock.sendall(message(b"p", final.encode()))
    else:
        return
    # Read until the server's error (or close).
    while True:
        kind, _ = read_message(sock)
        if kind == b"E":
            return


def probe_once(probe, port, socket_dir):
    sock = connect(probe, port, socket_dir)
    try:
        if probe.get("ssl") and probe["source"] != "local":
            sock.sendall(struct.pack("!II", 8, 80877103))
            if recv_exact(sock, 1) != b"S":
                return {"answer": "ssl-refused", "message": ""}
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if probe.get("cert"):
                ctx.load_cert_chain(probe["cert"]["cert"], probe["cert"]["key"])
            try:
                sock = ctx.wrap_socket(sock)
            except (ssl.SSLError, OSError) as e:
                return {"answer": "tls-failed", "message": str(e)}
        try:
            sock.sendall(startup_packet(probe))
            kind, body = read_message(sock)
        except ssl.SSLError as e:
            # TLS 1.3: the server's verdict on the client certificate comes after the
            # client's handshake finished, as an alert on the first read.
            return {"answer": "tls-failed", "message": str(e)}
        if kind == b"E":
            f = error_fields(body)
            return {"answer": "error", "message": f.get("M", ""), "sqlstate": f.get("C", "")}
        if kind != b"R":
            return {"answer": "io-error", "message": "unexpected message %r" % kind}
        (code,) = struct.unpack("!I", body[:4])
        answer = AUTH_NAMES.get(code, "auth-%d" % code)
        if code in (3, 5, 10):
            try:
                wrong_password(sock, code, body)
            except (EOFError, OSError):
                pass
        return {"answer": answer, "message": ""}
    finally:
        try:
            sock.close()
        except OSError:
            pass


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def await_rules(job):
    """Polls with the `await` probe until the server asks it for a password: the
    postmaster has then loaded the pg_hba.conf that holds the sentinel line."""
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            result = probe_once(job["await"], job["port"], job.get("socket_dir", "/tmp"))
        except (EOFError, OSError):
            result = {"answer": "io-error"}
        if result["answer"] == "cleartext":
            return True
        time.sleep(0.02)
    return False


def main():
    job = json.load(sys.stdin)
    port = job["port"]
    if job.get("await") and not await_rules(job):
        print(json.dumps({"answer": "io-error", "message": "the new pg_hba.conf never took effect"}), flush=True)
        return
    for probe in job["probes"]:
        before = log_size(job["log"])
        try:
            result = probe_once(probe, port, job.get("socket_dir", "/tmp"))
        except (EOFError, OSError) as e:
            result = {"answer": "io-error", "message": str(e)}
        # The backend writes its log before answering; a short grace covers a backend
        # that is still exiting.
        text = read_from(job["log"], before)
        if result["answer"] in ("cleartext", "md5", "sasl", "error") and "Connection matched" not in text:
            time.sleep(0.02)
            text = read_from(job["log"], before)
        line = None
        marker = "Connection matched pg_hba.conf line "
        at = text.find(marker)
        if at >= 0:
            digits = ""
            for ch in text[at + len(marker):]:
                if not ch.isdigit():
                    break
                digits += ch
            line = int(digits)
        if line is None:
            # A successful `cert` login logs "connection authenticated: identity=…
            # method=cert (…/pg_hba.conf:N)" (log_connections, PostgreSQL 14+).
            at = text.find("connection authenticated:")
            if at >= 0:
                rest = text[at:].split("\n", 1)[0]
                tail = rest.rsplit(":", 1)[-1].rstrip(")")
                if tail.isdigit():
                    line = int(tail)
        result["line"] = line
        result["cert_method"] = "method=cert" in text
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
