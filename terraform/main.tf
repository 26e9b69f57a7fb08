# Puppies on Google Cloud, as ../shared/ARCHITECTURE.md describes it: a private VPC,
# GKE (web and beat on a standard pool, Celery workers on a spot pool), Cloud SQL for
# PostgreSQL (regional HA, backups with PITR, read replicas), Memorystore for Redis (the
# Celery broker), the media bucket, the image registry and the app's secrets.
# Workloads are deploy/k8s (kustomize), applied after this. Nothing here has been applied
# from the workplace that wrote it (no cloud access, no provider downloads): .ci/run checks
# `terraform fmt` and scans it with checkov; run `terraform init && terraform plan` first.

module "network" {
  source = "./modules/network"
  name   = var.name
  region = var.region
}

module "gke" {
  source                 = "./modules/gke"
  name                   = var.name
  region                 = var.region
  network                = module.network.network_id
  subnetwork             = module.network.subnetwork_id
  pods_range             = module.network.pods_range_name
  services_range         = module.network.services_range_name
  master_authorized_cidr = var.master_authorized_cidr
  spot_max_nodes         = var.worker_spot_max_nodes
}

module "cloudsql" {
  source        = "./modules/cloudsql"
  name          = var.name
  region        = var.region
  network       = module.network.network_id
  tier          = var.db_tier
  replica_count = var.db_replica_count
  # Private IP needs the service networking peering first.
  depends_on = [module.network]
}

module "redis" {
  source     = "./modules/redis"
  name       = var.name
  region     = var.region
  network    = module.network.network_id
  memory_gb  = var.broker_memory_gb
  depends_on = [module.network]
}

module "storage" {
  source = "./modules/storage"
  name   = "${var.project}-${var.name}-media"
  region = var.region
}

module "registry" {
  source = "./modules/registry"
  name   = var.name
  region = var.region
}

module "secrets" {
  source = "./modules/secrets"
  name   = var.name
  values = {
    DATABASE_URL          = module.cloudsql.database_url
    DATABASE_REPLICA_URL  = module.cloudsql.replica_url
    CELERY_BROKER_URL     = module.redis.broker_url
    BROKER_REDIS_ADDRESS  = module.redis.address
    BROKER_REDIS_PASSWORD = module.redis.auth_string
    BROKER_REDIS_CA       = module.redis.ca_certificate
  }
}
