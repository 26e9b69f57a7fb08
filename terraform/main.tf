terraform {
  required_version = ">= 1.6"
  required_providers {
    google = { source = "hashicorp/google", version = "~> 6.0" }
  }
}

variable "project" { type = string }
variable "region" {
  type    = string
  default = "europe-west1"
}
variable "db_tier" {
  type    = string
  default = "db-custom-4-16384"
}

provider "google" {
  project = var.project
  region  = var.region
}

resource "google_container_cluster" "puppies" {
  name             = "puppies"
  location         = var.region
  enable_autopilot = true
}

resource "google_sql_database_instance" "puppies" {
  name             = "puppies-pg"
  database_version = "POSTGRES_16"
  region           = var.region
  settings {
    tier              = var.db_tier
    availability_type = "REGIONAL"
    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }
    ip_configuration { ipv4_enabled = false }
  }
  deletion_protection = true
}

resource "google_sql_database" "puppies" {
  name     = "puppies"
  instance = google_sql_database_instance.puppies.name
}

# The Celery broker (CELERY_BROKER_URL) only: a lost message is re-dispatched from the
# outbox. The caches and the like buffer (REDIS_URL, LIKE_BUFFER_REDIS_URL) need AOF with
# appendfsync always, which Memorystore for Redis cannot do (RDB snapshots only): they run
# in k8s/redis-durable.yaml on the GKE cluster.
resource "google_redis_instance" "puppies" {
  name           = "puppies-redis"
  tier           = "STANDARD_HA"
  memory_size_gb = 5
  region         = var.region
  redis_version  = "REDIS_7_0"
}

output "database_connection_name" { value = google_sql_database_instance.puppies.connection_name }
output "broker_redis_host" { value = google_redis_instance.puppies.host }
