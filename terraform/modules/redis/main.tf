# Memorystore for Redis: the Celery broker (CELERY_BROKER_URL) only. STANDARD_HA (a
# replica in another zone, automatic failover), AUTH, TLS in transit, RDB snapshots every
# hour. A task lost between snapshots is dispatched again from the outbox, so the broker
# needs no stronger persistence. The like buffer needs every write fsynced before a like
# is answered (AOF always), which Memorystore for Redis cannot do: it runs in the cluster
# (deploy/k8s/redis-durable.yaml, README "Reliability").
variable "name" { type = string }
variable "region" { type = string }
variable "network" { type = string }
variable "memory_gb" { type = number }

resource "google_redis_instance" "broker" {
  name                    = "${var.name}-broker"
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.memory_gb
  region                  = var.region
  redis_version           = "REDIS_7_2"
  authorized_network      = var.network
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 4
        minutes = 0
      }
    }
  }
}

output "address" { value = "${google_redis_instance.broker.host}:${google_redis_instance.broker.port}" }
output "auth_string" {
  sensitive = true
  value     = google_redis_instance.broker.auth_string
}
output "ca_certificate" {
  sensitive = true
  value     = google_redis_instance.broker.server_ca_certs[0].cert
}
# The CA is mounted at /etc/broker-ca/ca.pem (deploy/k8s); kombu verifies the server with it.
output "broker_url" {
  sensitive = true
  value     = "rediss://:${google_redis_instance.broker.auth_string}@${google_redis_instance.broker.host}:${google_redis_instance.broker.port}/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/broker-ca/ca.pem"
}
