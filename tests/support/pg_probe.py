#!/usr/bin/env python3
"""Asks a real PostgreSQL server how it answers connection attempts (stdlib only).

Used by tests/differential_pg.rs. Reads one JSON object on stdin:

  {"port": 5433, "socket_dir": "/tmp/x", "log": "/tmp/x/server.log",
   "await": {probe} | absent, "refused_since": <log offset> | absent,
   "probes": [{"source": "127.0.0.5" | "::1" | "local", "ssl": true,
               "cert": {"cert": "a.crt", "key": "a.key"} | null,
               "user": "alice", "database": "app", "replication": "false"|"true"|"database",
               "password": "secret" | null}]}

For each probe, in order and one at a time: connects from that source address (a
socket bound to it; Unix socket for "local"), optionally negotiates TLS (SSLRequest,
then a TLS handshake with the client certificate), sends the startup packet and reads
the server's first answer. When the server asks for a password, the prober answers
with the probe's `password` (SCRAM-SHA-256 and MD5 computed as libpq does), or with a
wrong one when it has none (a full SCRAM exchange with a bogus proof): a failure makes
the server log its DETAIL "Connection matched pg_hba.conf line N". The server writes its
log before it answers the client, so the log text appended during the probe holds that
line. After AuthenticationOk the prober reads on to ReadyForQuery or the start-up error
(role missing, not permitted to log in, no such database).

With `refused_since`, the wait for the `await` probe also ends when the log written
since that offset says "pg_hba.conf was not reloaded" (the server refused the new pg_hba.conf and
keeps the old rules): then the only output is {"answer": "refused"}.

Writes one JSON object per probe on stdout (one line each):
  {"answer": "ok"|"cleartext"|"md5"|"sasl"|"gss"|"sspi"|"error"|"ssl-refused"|"tls-failed"|"io-error",
   "message": "...", "line": 7 | null, "line_file": "pg_hba.conf" | null, "cert_method": true|false,
   "auth": "ok"|"failed"|"io-error" (when the server asked for a password or said Ok),
   "auth_message": "...", "after": "ready" | "<start-up error>"}
"""

import base64
import hashlib
import hmac
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


def b64(data):
    return base64.b64encode(data).decode()


def answer_password(sock, code, body, user, password):
    """Answers an authentication request with `password` (None: a wrong one; a SCRAM
    exchange with a bogus proof). Returns ("ok", "") when the server accepts it, else
    ("failed", its error message)."""
    if code == 3:
        sock.sendall(message(b"p", (password or "wrong-password").encode() + b"\0"))
    elif code == 5:
        if password is None:
            digest = "md5" + "0" * 32
        else:
            inner = hashlib.md5((password + user).encode()).hexdigest()
            digest = "md5" + hashlib.md5(inner.encode() + body[4:8]).hexdigest()
        sock.sendall(message(b"p", digest.encode() + b"\0"))
    elif code == 10:
        nonce = b64(os.urandom(18))
        first_bare = "n=,r=" + nonce
        first = ("n,," + first_bare).encode()
        sock.sendall(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first))
        kind, reply = read_message(sock)
        if kind == b"E":
            return "failed", error_fields(reply).get("M", "")
        if kind != b"R" or struct.unpack("!I", reply[:4])[0] != 11:
            return "failed", "unexpected SASL answer"
        server_first = reply[4:].decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        final_bare = "c=biws,r=" + attrs["r"]
        if password is None:
            proof = os.urandom(32)
        else:
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            auth_message = ",".join([first_bare, server_first, final_bare]).encode()
            signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
        sock.sendall(message(b"p", (final_bare + ",p=" + b64(proof)).encode()))
    else:
        return "failed", "unsupported request"
    while True:
        kind, reply = read_message(sock)
        if kind == b"E":
            return "failed", error_fields(reply).get("M", "")
        if kind == b"R" and struct.unpack("!I", reply[:4])[0] == 0:
            return "ok", ""


def after_ok(sock):
    """After AuthenticationOk: "ready" (ReadyForQuery) or the error of the start-up that
    follows authentication (role missing, not permitted to log in, no such database)."""
    while True:
        kind, reply = read_message(sock)
        if kind == b"Z":
            return "ready"
        if kind == b"E":
            return error_fields(reply).get("M", "")


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
        result = {"answer": AUTH_NAMES.get(code, "auth-%d" % code), "message": ""}
        try:
            if code in (3, 5, 10):
                auth, why = answer_password(sock, code, body, probe["user"], probe.get("password"))
                result["auth"] = auth
                result["auth_message"] = why
                if auth == "ok":
                    result["after"] = after_ok(sock)
            elif code == 0:
                result["auth"] = "ok"
                result["after"] = after_ok(sock)
        except (EOFError, OSError, ssl.SSLError) as e:
            result["auth"] = "io-error"
            result["auth_message"] = str(e)
        return result
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
    postmaster has then loaded the pg_hba.conf that holds the sentinel line. Returns
    True, False (timed out) or "refused" (see `refused_since`)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        if job.get("refused_since") is not None and "pg_hba.conf was not reloaded" in read_from(job["log"], job["refused_since"]):
            return "refused"
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
    awaited = await_rules(job) if job.get("await") else True
    if awaited == "refused":
        print(json.dumps({"answer": "refused"}), flush=True)
        return
    if not awaited:
        print(json.dumps({"answer": "io-error", "message": "the new pg_hba.conf never took effect"}), flush=True)
        return
    for probe in job["probes"]:
        before = log_size(job["log"])
        try:
            result = probe_once(probe, port, job.get("socket_dir", "/tmp"))
        except (EOFError, OSError) as e:
            result = {"answer": "io-error", "message": str(e)}
        # The backend writes its log before it answers (ereport logs, then sends), so
        # the log already holds what this probe caused.
        text = read_from(job["log"], before)
        line = None
        line_file = None
        # 13-15: "Connection matched pg_hba.conf line N: ...";
        # 16+: "Connection matched file "/path/pg_hba.conf" line N: ...".
        at = text.find("Connection matched pg_hba.conf line ")
        if at >= 0:
            at += len("Connection matched pg_hba.conf line ")
            line_file = "pg_hba.conf"
        else:
            at = text.find("Connection matched file \"")
            if at >= 0:
                at += len("Connection matched file \"")
                end = text.find("\" line ", at)
                line_file = os.path.basename(text[at:end])
                at = end + len("\" line ")
        if line_file is not None:
            digits = ""
            for ch in text[at:]:
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
                site = rest.rsplit("(", 1)[-1].rstrip(")")
                tail = site.rsplit(":", 1)[-1]
                if tail.isdigit():
                    line = int(tail)
                    line_file = os.path.basename(site.rsplit(":", 1)[0])
        result["line"] = line
        result["line_file"] = line_file
        result["cert_method"] = "method=cert" in text
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
