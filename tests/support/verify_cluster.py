#!/usr/bin/env python3
"""A live single-node Patroni cluster (etcd + Patroni + PostgreSQL 15 on loopback) for
tests/verify_live.rs, driven one command at a time.

Usage: verify_cluster.py PLAN.json. The plan is the one patroni_probe.py takes (workdir,
venv, patroni_version, pg_bindir, and the extras `postgresql_extra`, `dcs_extra`,
`restapi_extra`). The cluster is started with patroni_probe.Cluster; then each line on
stdin is a JSON command, answered by one JSON line on stdout:

  {"cmd": "info"}                 -> {"config_text", "config_path", "restapi_port", "data_dir", "version"}
  {"cmd": "snapshot"}             -> the cluster's state: members (name, role, state, timeline),
                                     GET /config, GET /history, scheduled actions, the pg_hba.conf
                                     in the data directory, PostgreSQL's start time
  {"cmd": "hba", "old": L, "new": L} -> replaces line L of the data directory's pg_hba.conf, reloads
  {"cmd": "edit-config", "set": "k=v"} -> patronictl edit-config --force --set k=v
  {"cmd": "restapi", "set": {...}} -> the REST API keys changed in the config Patroni reads, SIGHUP,
                                     and waits until `wait_for` (a status of POST /switchover with
                                     an empty body from 127.0.0.1) is answered
  {"cmd": "stop"}                 -> stops Patroni, PostgreSQL and etcd
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import patroni_probe as probe  # noqa: E402


def connection(cluster):
    """Plain HTTP, or HTTPS with the trusted client certificate once the REST API has TLS."""
    if cluster.restapi.get('certfile'):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(cluster.certs['client_cert'], cluster.certs['client_key'])
        return http.client.HTTPSConnection('127.0.0.1', cluster.port, timeout=5,
                                           source_address=('127.0.0.1', 0), context=ctx)
    return http.client.HTTPConnection('127.0.0.1', cluster.port, timeout=5, source_address=('127.0.0.1', 0))


def served_cert(cluster):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cluster.certs['client_cert'], cluster.certs['client_key'])
    with socket.create_connection(('127.0.0.1', cluster.port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def get(cluster, path):
    c = connection(cluster)
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, json.loads(body or b'null')


def as_postgres(cluster, args):
    return subprocess.run(args, capture_output=True, text=True, timeout=60,
                          preexec_fn=probe.demote(cluster.pw) if cluster.pw else None)


def psql(cluster, sql):
    bindir = cluster.plan.get('pg_bindir', '/usr/lib/postgresql/15/bin')
    port = cluster.base['postgresql']['listen'].rsplit(':', 1)[1]
    out = as_postgres(cluster, [os.path.join(bindir, 'psql'), '-h', cluster.work, '-p', port, '-U', 'postgres',
                                '-d', 'postgres', '-XAtc', sql])
    if out.returncode != 0:
        raise RuntimeError('psql failed: ' + out.stderr)
    return out.stdout.strip()


def snapshot(cluster):
    _, patroni = get(cluster, '/patroni')
    _, members = get(cluster, '/cluster')
    _, config = get(cluster, '/config')
    _, history = get(cluster, '/history')
    data = cluster.base['postgresql']['data_dir']
    with open(os.path.join(data, 'pg_hba.conf')) as f:
        hba = f.read()
    return {
        'members': [{k: m.get(k) for k in ('name', 'role', 'state', 'timeline', 'api_url', 'host', 'port')}
                    for m in members.get('members', [])],
        'scheduled_switchover': members.get('scheduled_switchover'),
        'scheduled_restart': patroni.get('scheduled_restart'),
        'timeline': patroni.get('timeline'),
        'postmaster_start_time': patroni.get('postmaster_start_time'),
        'pause': patroni.get('pause'),
        'config': config,
        'history': history,
        'pg_hba': hba,
        'sessions_by_patrol': psql(cluster, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'patrol-verify'"),
    }


def post_switchover_status(cluster):
    c = connection(cluster)
    c.request('POST', '/switchover', body=b'', headers={'Content-Length': '0'})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def handle(cluster, cmd):
    name = cmd['cmd']
    if name == 'info':
        with open(cluster.config_path) as f:
            text = f.read()
        return {'config_text': text, 'config_path': cluster.config_path, 'restapi_port': cluster.port,
                'data_dir': cluster.base['postgresql']['data_dir'], 'version': cluster.version}
    if name == 'snapshot':
        return snapshot(cluster)
    if name == 'hba':
        path = os.path.join(cluster.base['postgresql']['data_dir'], 'pg_hba.conf')
        with open(path) as f:
            text = f.read()
        if cmd['old'] not in text.splitlines():
            raise RuntimeError('line {!r} is not in {}:\n{}'.format(cmd['old'], path, text))
        text = '\n'.join(cmd['new'] if line == cmd['old'] else line for line in text.splitlines()) + '\n'
        probe.write_file(path, text, cluster.pw, 0o600)
        # pg_reload_conf() returns before the postmaster has re-read the file: wait for the
        # view of the file's rules to show the new line.
        psql(cluster, 'SELECT pg_reload_conf()')
        deadline = time.time() + 20
        method = cmd['new'].split()[-1]
        while time.time() < deadline:
            rules = psql(cluster, "SELECT string_agg(auth_method, ',') FROM pg_hba_file_rules")
            if method in rules.split(','):
                break
            time.sleep(0.2)
        time.sleep(1.0)
        return {'ok': True}
    if name == 'edit-config':
        ctl = os.path.join(os.path.dirname(cluster.patroni_bin), 'patronictl')
        out = as_postgres(cluster, [ctl, '-c', cluster.config_path, 'edit-config', '--force', '--set', cmd['set']])
        if out.returncode != 0:
            raise RuntimeError('patronictl edit-config failed: ' + out.stderr + out.stdout)
        key = cmd['set'].split('=', 1)[0].split('.')
        removed = cmd['set'].endswith('=null')
        deadline = time.time() + 20
        while time.time() < deadline:
            _, config = get(cluster, '/config')
            value = config
            for k in key:
                value = value.get(k) if isinstance(value, dict) else None
            if (value is None) == removed:
                return {'ok': True, 'config': config}
            time.sleep(0.2)
        raise RuntimeError('the DCS does not show ' + cmd['set'])
    if name == 'restapi':
        subst = {'$CERT': cluster.certs.get('server_cert', ''), '$KEY': cluster.certs.get('server_key', ''),
                 '$CA': cluster.certs.get('ca', '')}
        restapi = dict(cluster.restapi, **probe.fill(cmd['set'], subst))
        old_port = cluster.port
        if cmd.get('new_port'):
            port = probe.free_port()
            restapi['listen'] = restapi['connect_address'] = '127.0.0.1:{}'.format(port)
        probe.write_file(cluster.config_path, probe.yaml_text(dict(cluster.base, restapi=restapi)), cluster.pw)
        os.kill(cluster.patroni.pid, signal.SIGHUP)
        if cmd.get('new_port'):
            if not probe.wait_port('127.0.0.1', port, 30) or not probe.wait_port('127.0.0.1', old_port, 30, up=False):
                raise RuntimeError('the REST API did not move to port {}'.format(port))
            cluster.port = port
            # reload_config starts the new listener before it sets the rest.
            time.sleep(0.5)
        previous, cluster.restapi = cluster.restapi, restapi
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                # Patroni publishes the new api_url in its member key at its next loop.
                _, members = get(cluster, '/cluster')
                url = '{}://{}/patroni'.format('https' if restapi.get('certfile') else 'http',
                                               restapi.get('connect_address', restapi['listen']))
                published = [m.get('api_url') for m in members.get('members', [])] == [url]
                if published and post_switchover_status(cluster) == cmd['wait_for']:
                    return {'ok': True}
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        cluster.restapi = previous
        raise RuntimeError('the REST API did not reload')
    if name == 'swap-cert':
        # Another certificate in the files the config names, then SIGHUP: Patroni reloads
        # a certificate whose serial number changed.
        for src, dst in ((cmd['cert'], cluster.restapi['certfile']), (cmd['key'], cluster.restapi['keyfile'])):
            with open(src) as f:
                probe.write_file(dst, f.read(), cluster.pw, 0o600)
        with open(cmd['cert']) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        os.kill(cluster.patroni.pid, signal.SIGHUP)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if served_cert(cluster) == want:
                    time.sleep(0.5)
                    return {'ok': True}
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError('the REST API does not serve the new certificate')
    raise RuntimeError('unknown command ' + name)


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    patroni_bin = probe.ensure_venv(plan.get('venv', '/var/tmp/patrol-venv'),
                                    plan.get('patroni_version', probe.PATRONI_VERSION_DEFAULT))
    cluster = probe.Cluster(plan)
    cluster.patroni_bin = patroni_bin
    try:
        cluster.start(patroni_bin)
        cluster.restapi = dict(cluster.restapi)
        # The member key gets its timeline a loop after the primary is up: wait for it, so
        # that snapshots compare a settled state.
        deadline = time.time() + 30
        while time.time() < deadline:
            _, members = get(cluster, '/cluster')
            if members.get('members') and all(m.get('timeline') for m in members['members']):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError('the member key shows no timeline')
        print(json.dumps({'ready': True}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            if cmd['cmd'] == 'stop':
                break
            try:
                answer = handle(cluster, cmd)
            except Exception as e:  # the test shows it and fails
                answer = {'error': '{}: {}'.format(type(e).__name__, e)}
            print(json.dumps(answer), flush=True)
    finally:
        cluster.stop()
    print(json.dumps({'stopped': True}), flush=True)


if __name__ == '__main__':
    main()
