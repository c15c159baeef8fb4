# Consul agent on pg-node1: Patroni registers the cluster's services here and PgBouncer's
# watcher follows the leader. Written like the getting-started guide: gossip in clear,
# no TLS, ACLs off, the HTTP API on every interface and script checks on.
datacenter  = "dc1"
node_name   = "pg-node1"
data_dir    = "/opt/consul"
bind_addr   = "10.0.1.11"
client_addr = "0.0.0.0"
retry_join  = ["10.0.1.21", "10.0.1.22", "10.0.1.23"]

server               = false
enable_script_checks = true

ui_config {
  enabled = true
}
