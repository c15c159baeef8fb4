# /etc/gitlab/gitlab.rb of database node db2, edited by hand since: an allowlist with a
# typo and a catch-all, TLS half configured, no REST API credentials, and Consul's
# script checks switched on.
roles(['patroni_role'])

patroni['allowlist'] = %w(10.6.0.0/24 10.6.0.300/32 0.0.0.0/0)
patroni['tls_certificate_file'] = '/etc/gitlab/ssl/patroni.crt'
patroni['tls_client_mode'] = 'required'

consul['encryption_key'] = 'pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s='
consul['encryption_verify_incoming'] = false
consul['configuration'] = {
  'retry_join' => %w(10.6.0.11 10.6.0.12 10.6.0.13),
  'enable_script_checks' => true,
  'acl' => { 'enabled' => true }
}
