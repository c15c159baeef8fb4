# /etc/gitlab/gitlab.rb of database node db1 (GitLab Omnibus EE): Patroni, PgBouncer and
# a Consul agent, as the HA guide's first example writes it. It works, and it leaves
# Patroni's REST API, PgBouncer and Consul open.
roles(['patroni_role', 'pgbouncer_role'])

# PostgreSQL
postgresql['listen_address'] = '0.0.0.0'
postgresql['hot_standby'] = 'on'
postgresql['wal_level'] = 'replica'
postgresql['max_wal_senders'] = 7
postgresql['max_replication_slots'] = 6
postgresql['pgbouncer_user_password'] = '771a8625958a529132abe6f1a4acb19c'
postgresql['sql_user_password'] = '450409b85a0223a214b5fb1484f34d0f'
postgresql['trust_auth_cidr_addresses'] = %w(127.0.0.1/32)
postgresql['md5_auth_cidr_addresses'] = %w(10.6.0.0/24)

# Patroni
patroni['postgresql']['max_wal_senders'] = 7
patroni['postgresql']['max_replication_slots'] = 6
patroni['username'] = 'patroni-api'
patroni['tls_verify'] = false

# PgBouncer
pgbouncer['admin_users'] = %w(gitlab-psql postgres pgbouncer)
pgbouncer['users'] = {
  'gitlab-consul': {
    password: '5e0e3263571e3704ad655076301d6ebe'
  },
  'pgbouncer': {
    password: '771a8625958a529132abe6f1a4acb19c'
  }
}

# Consul agent
consul['watchers'] = %w(postgresql)
consul['configuration'] = {
  retry_join: %w(10.6.0.11 10.6.0.12 10.6.0.13),
  client_addr: '0.0.0.0'
}
