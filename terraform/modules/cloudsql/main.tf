# The system of record: PostgreSQL 16, regional HA (a standby in a second zone, automatic
# failover), daily backups kept 14 days with point-in-time recovery (WAL kept 7 days), and
# read replicas for DATABASE_REPLICA_URL. Private IP only (private service access); TLS
# required. Flags: the logging that audits and incident reviews need.
variable "name" { type = string }
variable "region" { type = string }
variable "network" { type = string }
variable "tier" { type = string }
variable "replica_count" { type = number }

resource "google_sql_database_instance" "primary" {
  #checkov:skip=CKV_GCP_6:ssl_mode ENCRYPTED_ONLY refuses every connection without TLS; client certificates (the mode checkov wants) would need a per-pod certificate pipeline or the Auth Proxy
  #checkov:skip=CKV_GCP_79:PostgreSQL 16 is the major version the app is tested on; a major upgrade is a deliberate, tested step
  name                = "${var.name}-pg"
  database_version    = "POSTGRES_16"
  region              = var.region
  deletion_protection = true

  settings {
    tier              = var.tier
    edition           = "ENTERPRISE"
    availability_type = "REGIONAL"
    disk_type         = "PD_SSD"
    disk_autoresize   = true

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7
      backup_retention_settings {
        retained_backups = 14
      }
    }

    ip_configuration {
      ipv4_enabled                                  = false
      private_network                               = var.network
      ssl_mode                                      = "ENCRYPTED_ONLY"
      enable_private_path_for_google_cloud_services = true
    }

    # The same flags on the primary and its replicas (checkov reads literal blocks only).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = true
    }
    maintenance_window {
      day  = 7
      hour = 3
    }
  }
}

# Read replicas (asynchronous streaming): reads of feeds, posts, profiles and lists go
# here when DATABASE_REPLICA_URL is set; the app's replica-lag metric comes from the
# primary's pg_stat_replication.
resource "google_sql_database_instance" "replica" {
  #checkov:skip=CKV_GCP_6:ssl_mode ENCRYPTED_ONLY refuses every connection without TLS; client certificates (the mode checkov wants) would need a per-pod certificate pipeline or the Auth Proxy
  #checkov:skip=CKV_GCP_79:Replicas run the primary's major version
  count                = var.replica_count
  name                 = "${var.name}-pg-replica-${count.index}"
  database_version     = "POSTGRES_16"
  region               = var.region
  master_instance_name = google_sql_database_instance.primary.name
  deletion_protection  = true

  replica_configuration {
    failover_target = false
  }

  settings {
    tier              = var.tier
    edition           = "ENTERPRISE"
    availability_type = "ZONAL"
    disk_type         = "PD_SSD"
    disk_autoresize   = true
    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network
      ssl_mode        = "ENCRYPTED_ONLY"
    }
    # The same flags on the primary and its replicas (checkov reads literal blocks only).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }
}

resource "google_sql_database" "app" {
  name     = var.name
  instance = google_sql_database_instance.primary.name
}

resource "random_password" "app" {
  length  = 40
  special = false
}

resource "google_sql_user" "app" {
  name     = var.name
  instance = google_sql_database_instance.primary.name
  password = random_password.app.result
}

output "connection_name" { value = google_sql_database_instance.primary.connection_name }
output "replica_connection_names" { value = google_sql_database_instance.replica[*].connection_name }
output "database_url" {
  sensitive = true
  value     = "postgres://${google_sql_user.app.name}:${random_password.app.result}@${google_sql_database_instance.primary.private_ip_address}:5432/${google_sql_database.app.name}?sslmode=require"
}
output "replica_url" {
  sensitive = true
  value = length(google_sql_database_instance.replica) == 0 ? "" : (
    "postgres://${google_sql_user.app.name}:${random_password.app.result}@${google_sql_database_instance.replica[0].private_ip_address}:5432/${google_sql_database.app.name}?sslmode=require"
  )
}
