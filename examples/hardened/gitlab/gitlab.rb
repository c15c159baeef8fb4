# /etc/gitlab/gitlab.rb of database node db1 (GitLab Omnibus EE): Patroni, PgBouncer and
# a Consul agent, locked down in gitlab.rb itself so that `gitlab-ctl reconfigure` keeps
# it: the REST API on the node's address with TLS, client certificates, basic auth and an
# allowlist; PgBouncer with SCRAM and TLS; Consul with gossip encryption, TLS and ACLs.
roles(['patroni_role', 'pgbouncer_role'])

# PostgreSQL
postgresql['listen_address'] = '10.6.0.21'
postgresql['hot_standby'] = 'on'
postgresql['wal_level'] = 'replica'
postgresql['max_wal_senders'] = 7
postgresql['max_replication_slots'] = 6
postgresql['pgbouncer_user_password'] = '1e4a2a9bb3b1e5f0d6c1c9b7a2f3e8d4'
postgresql['sql_user_password'] = '6d8f1c4b2a9e7f3d5c0b8a1e4f2d9c7b'
postgresql['md5_auth_cidr_addresses'] = %w(10.6.0.0/24)

# Patroni's REST API
patroni['listen_address'] = '10.6.0.21'
patroni['connect_address'] = '10.6.0.21'
patroni['username'] = 'patroni-api'
patroni['password'] = 'Api-Secret-2024'
patroni['allowlist'] = %w(10.6.0.0/24 127.0.0.1/32)
patroni['allowlist_include_members'] = true
patroni['tls_certificate_file'] = '/etc/gitlab/ssl/patroni.crt'
patroni['tls_key_file'] = '/etc/gitlab/ssl/patroni.key'
patroni['tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
patroni['tls_client_mode'] = 'optional'
patroni['tls_client_certificate_file'] = '/etc/gitlab/ssl/patroni-client.crt'
patroni['tls_client_key_file'] = '/etc/gitlab/ssl/patroni-client.key'

# PgBouncer
pgbouncer['listen_addr'] = '10.6.0.21'
pgbouncer['auth_type'] = 'scram-sha-256'
pgbouncer['admin_users'] = %w(pgbouncer)
pgbouncer['stats_users'] = %w(pgbouncer)
pgbouncer['client_tls_sslmode'] = 'require'
pgbouncer['client_tls_key_file'] = '/etc/gitlab/ssl/pgbouncer.key'
pgbouncer['client_tls_cert_file'] = '/etc/gitlab/ssl/pgbouncer.crt'
pgbouncer['client_tls_protocols'] = 'secure'
pgbouncer['server_tls_sslmode'] = 'verify-full'
pgbouncer['server_tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
pgbouncer['server_tls_protocols'] = 'secure'

# Consul agent
consul['watchers'] = %w(postgresql)
consul['encryption_key'] = 'pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s='
consul['use_tls'] = true
consul['tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
consul['tls_certificate_file'] = '/etc/gitlab/ssl/consul.crt'
consul['tls_key_file'] = '/etc/gitlab/ssl/consul.key'
consul['tls_verify_client'] = true
consul['configuration'] = {
  retry_join: %w(10.6.0.11 10.6.0.12 10.6.0.13),
  acl: { enabled: true, default_policy: 'deny' },
  tls: { internal_rpc: { verify_server_hostname: true } }
}
