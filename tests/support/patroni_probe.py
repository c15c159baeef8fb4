#!/usr/bin/env python3
"""Runs a real Patroni and records how its REST API answers a matrix of requests.

Used by tests/differential_patroni.rs, which compares these answers with `patrol
simulate`. Usage:

    patroni_probe.py PLAN.json OUT.json

The plan names a work directory (owned by the `postgres` user), the certificates (made by
the Rust side with the openssl CLI), and the variants: a `restapi` section each (`$PORT`,
`$CERT`, `$KEY`, `$CA` are filled in) and the requests to send. The probe

1. installs what is missing: a venv with `patroni[etcd3]==<version>` and `psycopg[binary]`
   from PyPI under `venv` (default /var/tmp/patrol-venv);
2. starts etcd on 127.0.0.1 with its own ports and data directory, and Patroni (as the
   `postgres` user) with a single-node cluster, PostgreSQL from Debian;
3. for each variant, writes the config with a fresh REST API port and sends SIGHUP, waits
   until the new listener accepts connections, then sends every request from its source
   address (client sockets bound to 127.0.0.x or ::1), over http or https, with or without
   a client certificate from the trusted or the rogue CA, and records the status and body,
   or the TLS failure;
4. stops Patroni (which stops PostgreSQL) and etcd.

Every request is harmless when Patroni accepts it (the bodies are invalid JSON, so the
handlers answer 400 before doing anything; /reload, /sigterm, DELETE /restart and
DELETE /switchover do nothing on this cluster).
"""

import base64
import http.client
import json
import os
import pwd
import signal
import socket
import ssl
import subprocess
import sys
import time

PATRONI_VERSION_DEFAULT = '4.1.5'


def log(*args):
    print('[patroni-probe]', *args, file=sys.stderr, flush=True)


def free_port(family=socket.AF_INET, host='127.0.0.1'):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ensure_venv(venv, version):
    patroni = os.path.join(venv, 'bin', 'patroni')
    if os.path.exists(patroni):
        out = subprocess.run([patroni, '--version'], capture_output=True, text=True)
        if out.stdout.strip().endswith(version):
            return patroni
    log('creating', venv, 'with patroni', version)
    # The system Python: the postgres user must be able to run it (a pyenv under /root
    # is not readable).
    python = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
    if not os.path.exists(os.path.join(venv, 'bin', 'pip')):
        subprocess.run([python, '-m', 'venv', venv], check=True)
    subprocess.run([os.path.join(venv, 'bin', 'pip'), 'install', '-q',
                    'patroni[etcd3]=={}'.format(version), 'psycopg[binary]'], check=True)
    subprocess.run(['chmod', '-R', 'a+rX', venv], check=True)
    return patroni


def postgres_user():
    if os.getuid() != 0:
        return None
    return pwd.getpwnam('postgres')


def demote(pw):
    def run():
        os.setgid(pw.pw_gid)
        os.initgroups(pw.pw_name, pw.pw_gid)
        os.setuid(pw.pw_uid)
    return run


def write_file(path, text, pw, mode=0o644):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    if pw:
        os.chown(path, pw.pw_uid, pw.pw_gid)


def fill(value, subst):
    if isinstance(value, str):
        for k, v in subst.items():
            value = value.replace(k, v)
        return value
    if isinstance(value, list):
        return [fill(v, subst) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, subst) for k, v in value.items()}
    return value


def yaml_text(config):
    # JSON is valid YAML, and PyYAML reads it with the same types: no PyYAML needed here.
    return json.dumps(config, indent=2) + '\n'


def split_listen(listen):
    host, port = listen.rsplit(':', 1)
    host = host.strip('[]')
    if host in ('', '*', '0.0.0.0'):
        host = '127.0.0.1'
    elif host in ('::',):
        host = '::1'
    elif host.startswith('::ffff:'):
        host = host[len('::ffff:'):]
    return host, int(port)


def wait_port(host, port, timeout, up=True):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect((host, port))
            if up:
                return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    return False


class Cluster:
    def __init__(self, plan):
        self.plan = plan
        self.work = plan['workdir']
        self.pw = postgres_user()
        self.procs = []
        self.certs = plan['certs']

    def start(self, patroni_bin):
        work = self.work
        etcd_client, etcd_peer = free_port(), free_port()
        etcd_dir = os.path.join(work, 'etcd')
        os.makedirs(etcd_dir, exist_ok=True)
        self.etcd_log = open(os.path.join(work, 'etcd.log'), 'w')
        etcd = subprocess.Popen([
            'etcd', '--name', 'patrol', '--data-dir', etcd_dir,
            '--listen-client-urls', 'http://127.0.0.1:{}'.format(etcd_client),
            '--advertise-client-urls', 'http://127.0.0.1:{}'.format(etcd_client),
            '--listen-peer-urls', 'http://127.0.0.1:{}'.format(etcd_peer),
            '--initial-advertise-peer-urls', 'http://127.0.0.1:{}'.format(etcd_peer),
            '--initial-cluster', 'patrol=http://127.0.0.1:{}'.format(etcd_peer),
            '--listen-metrics-urls', 'http://127.0.0.1:{}'.format(free_port()),
        ], stdout=self.etcd_log, stderr=subprocess.STDOUT)
        self.procs.append(etcd)
        if not wait_port('127.0.0.1', etcd_client, 30):
            raise RuntimeError('etcd did not start; see {}/etcd.log'.format(work))
        pg_port = free_port()
        self.base = {
            'scope': 'patrol-{}'.format(os.getpid()),
            'name': 'node1',
            'log': {'level': 'INFO'},
            'etcd3': {'hosts': '127.0.0.1:{}'.format(etcd_client)},
            'bootstrap': {'dcs': {'ttl': 20, 'loop_wait': 1, 'retry_timeout': 5}},
            'postgresql': {
                'listen': '127.0.0.1:{}'.format(pg_port),
                'connect_address': '127.0.0.1:{}'.format(pg_port),
                'data_dir': os.path.join(work, 'data'),
                'bin_dir': self.plan.get('pg_bindir', '/usr/lib/postgresql/15/bin'),
                'pgpass': os.path.join(work, 'pgpass'),
                'authentication': {
                    'superuser': {'username': 'postgres', 'password': 'patrol-super'},
                    'replication': {'username': 'replicator', 'password': 'patrol-repl'},
                },
                'parameters': {'unix_socket_directories': work},
            },
        }
        # Extra keys a caller needs (tests/support/verify_cluster.py: pg_hba, an allowlist).
        self.base['postgresql'].update(self.plan.get('postgresql_extra', {}))
        self.base['bootstrap']['dcs'].update(self.plan.get('dcs_extra', {}))
        self.config_path = os.path.join(work, 'patroni.yml')
        self.port = free_port()
        first = {'listen': '127.0.0.1:{}'.format(self.port), 'connect_address': '127.0.0.1:{}'.format(self.port)}
        first.update(self.plan.get('restapi_extra', {}))
        self.listen_host = '127.0.0.1'
        self.restapi = first
        write_file(self.config_path, yaml_text(dict(self.base, restapi=first)), self.pw)
        self.patroni_log = open(os.path.join(work, 'patroni.log'), 'w')
        env = dict(os.environ, HOME=work if self.pw else os.environ.get('HOME', work))
        patroni = subprocess.Popen([patroni_bin, self.config_path], stdout=self.patroni_log,
                                   stderr=subprocess.STDOUT, cwd=work, env=env,
                                   preexec_fn=demote(self.pw) if self.pw else None)
        self.procs.append(patroni)
        self.patroni = patroni
        deadline = time.time() + 120
        while time.time() < deadline:
            if patroni.poll() is not None:
                raise RuntimeError('patroni exited with {}; see {}/patroni.log'.format(patroni.returncode, work))
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=2)
                c.request('GET', '/patroni')
                r = c.getresponse()
                state = json.loads(r.read() or b'{}')
                c.close()
                if state.get('state') == 'running' and state.get('role') in ('primary', 'master'):
                    self.version = state.get('patroni', {}).get('version')
                    log('patroni', self.version, 'is the running primary on port', self.port)
                    return
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.5)
        raise RuntimeError('patroni did not become primary; see {}/patroni.log'.format(work))

    def apply(self, variant):
        """Loads a variant's restapi section with SIGHUP, on a new port."""
        old_host, old_port = self.listen_host, self.port
        v6 = variant.get('ipv6', False)
        port = free_port(socket.AF_INET6, '::1') if v6 else free_port()
        subst = {'$PORT': str(port), '$CERT': self.certs['server_cert'], '$KEY': self.certs['server_key'],
                 '$CA': self.certs['ca']}
        restapi = fill(variant['restapi'], subst)
        restapi.setdefault('connect_address', '127.0.0.1:{}'.format(port))
        config = dict(self.base, restapi=restapi)
        text = yaml_text(config)
        write_file(self.config_path, text, self.pw)
        os.kill(self.patroni.pid, signal.SIGHUP)
        host, port = split_listen(restapi['listen'])
        if not wait_port(host, port, 30):
            raise RuntimeError('variant {}: the REST API did not come up on {}:{}'.format(variant['name'], host, port))
        if not wait_port(old_host, old_port, 30, up=False):
            raise RuntimeError('variant {}: the old listener is still up'.format(variant['name']))
        # reload_config starts the new listener before it sets the auth key.
        time.sleep(0.5)
        self.listen_host, self.port = host, port
        return restapi, text

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def basic(text):
    return 'Basic ' + base64.b64encode(text.encode('utf-8')).decode('ascii')


def configured_auth(restapi):
    if 'authentication' in restapi:
        return '{username}:{password}'.format(**restapi['authentication'])
    return restapi.get('auth')


def send(cluster, restapi, req):
    """Sends one request; returns {outcome, status, body, error}."""
    host, port = cluster.listen_host, cluster.port
    source = req['source']
    scheme = req.get('scheme') or ('https' if restapi.get('certfile') else 'http')
    headers = {}
    auth = req.get('auth', 'none')
    if auth == 'valid':
        headers['Authorization'] = basic(configured_auth(restapi) or 'patrol:patrol')
    elif auth == 'invalid':
        headers['Authorization'] = basic('wrong-user:wrong-password')
    elif isinstance(auth, dict):
        headers['Authorization'] = basic('{}:{}'.format(auth['username'], auth['password']))
    body = None
    if req['method'] not in ('GET', 'HEAD', 'OPTIONS', 'TRACE'):
        body = b'{'
        headers['Content-Type'] = 'application/json'
    try:
        if scheme == 'https':
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            cert = req.get('client_cert', 'none')
            if cert == 'trusted':
                ctx.load_cert_chain(cluster.certs['client_cert'], cluster.certs['client_key'])
            elif cert == 'untrusted':
                ctx.load_cert_chain(cluster.certs['rogue_cert'], cluster.certs['rogue_key'])
            conn = http.client.HTTPSConnection(host, port, timeout=5, source_address=(source, 0), context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=5, source_address=(source, 0))
        conn.request(req['method'], req['path'], body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode('utf-8', 'replace')
        conn.close()
        return {'outcome': 'response', 'status': resp.status, 'body': data[:200], 'error': None}
    except (ConnectionRefusedError, socket.timeout, TimeoutError) as e:
        return {'outcome': 'error', 'status': None, 'body': None, 'error': '{}: {}'.format(type(e).__name__, e)}
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
            http.client.BadStatusLine) as e:
        return {'outcome': 'tls-error', 'status': None, 'body': None, 'error': '{}: {}'.format(type(e).__name__, e)}
    except OSError as e:
        return {'outcome': 'error', 'status': None, 'body': None, 'error': '{}: {}'.format(type(e).__name__, e)}


def main():
    plan_path, out_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as f:
        plan = json.load(f)
    version = plan.get('patroni_version', PATRONI_VERSION_DEFAULT)
    patroni_bin = ensure_venv(plan.get('venv', '/var/tmp/patrol-venv'), version)
    cluster = Cluster(plan)
    out = {'patroni_version': None, 'python': None, 'variants': []}
    started = time.time()
    try:
        cluster.start(patroni_bin)
        out['patroni_version'] = cluster.version
        out['python'] = subprocess.run([os.path.join(os.path.dirname(patroni_bin), 'python'), '--version'],
                                       capture_output=True, text=True).stdout.strip()
        for variant in plan['variants']:
            restapi, text = cluster.apply(variant)
            t0 = time.time()
            results = [send(cluster, restapi, r) for r in variant['requests']]
            log('variant {}: {} requests in {:.1f}s'.format(variant['name'], len(results), time.time() - t0))
            out['variants'].append({'name': variant['name'], 'restapi': restapi, 'config_text': text,
                                    'results': results})
    finally:
        cluster.stop()
    log('done in {:.1f}s'.format(time.time() - started))
    with open(out_path, 'w') as f:
        json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
