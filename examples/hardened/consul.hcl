# Consul agent on pg-node1: gossip encrypted, RPC over TLS with client certificates and
# server names checked, ACLs denying by default, the HTTP API on loopback only.
datacenter  = "dc1"
node_name   = "pg-node1"
data_dir    = "/opt/consul"
bind_addr   = "10.0.1.11"
client_addr = "127.0.0.1"
retry_join  = ["10.0.1.21", "10.0.1.22", "10.0.1.23"]
server      = false

encrypt = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="

tls {
  defaults {
    ca_file         = "/etc/consul.d/tls/ca.pem"
    cert_file       = "/etc/consul.d/tls/pg-node1.pem"
    key_file        = "/etc/consul.d/tls/pg-node1-key.pem"
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc {
    verify_server_hostname = true
  }
}

acl {
  enabled        = true
  default_policy = "deny"
  down_policy    = "extend-cache"
}

enable_script_checks       = false
enable_local_script_checks = true
