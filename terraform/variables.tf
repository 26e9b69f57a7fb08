variable "project" {
  description = "GCP project id."
  type        = string
}

variable "region" {
  description = "Region of everything (GKE is regional, Cloud SQL HA spans two zones of it)."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "puppies"
}

variable "db_tier" {
  description = "Cloud SQL machine type of the primary and the read replica."
  type        = string
  default     = "db-custom-4-16384"
}

variable "db_replica_count" {
  description = "Read replicas (DATABASE_REPLICA_URL points at the first)."
  type        = number
  default     = 1
}

variable "broker_memory_gb" {
  description = "Memorystore (Celery broker) size."
  type        = number
  default     = 5
}

variable "master_authorized_cidr" {
  description = "The only network allowed to reach the GKE control plane (your VPN or bastion)."
  type        = string
}

variable "worker_spot_max_nodes" {
  description = "Largest size of the spot pool (per zone) the workers run on."
  type        = number
  default     = 10
}
