# A private, regional GKE Standard cluster: web and beat on the "standard" pool, the
# Celery workers on the "spot" pool (tainted, so only pods that tolerate preemption land
# there: deploy/k8s/workers.yaml). Autopilot would hide the spot/standard split.
variable "name" { type = string }
variable "region" { type = string }
variable "network" { type = string }
variable "subnetwork" { type = string }
variable "pods_range" { type = string }
variable "services_range" { type = string }
variable "master_authorized_cidr" { type = string }
variable "spot_max_nodes" { type = number }

data "google_project" "this" {}

resource "google_service_account" "nodes" {
  account_id   = "${var.name}-gke-nodes"
  display_name = "GKE nodes of ${var.name} (logging, monitoring, image pulls only)"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
  ])
  project = data.google_project.this.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain this project may not have; RBAC is bound to users
  #checkov:skip=CKV_GCP_12:Dataplane V2 (ADVANCED_DATAPATH) enforces NetworkPolicy itself; the network_policy addon cannot be combined with it
  #checkov:skip=CKV_GCP_69:The GKE metadata server is on in every node pool's workload_metadata_config; the default pool is removed
  #checkov:skip=CKV_GCP_66:Binary Authorization needs an attestor pipeline that does not exist yet; images come only from our Artifact Registry
  name     = var.name
  location = var.region

  network    = var.network
  subnetwork = var.subnetwork

  # Node pools are managed below; the default one is removed at creation.
  remove_default_node_pool = true
  initial_node_count       = 1

  release_channel { channel = "REGULAR" }
  networking_mode = "VPC_NATIVE"
  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range
    services_secondary_range_name = var.services_range
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = "172.16.0.0/28"
  }
  master_authorized_networks_config {
    cidr_blocks {
      cidr_block   = var.master_authorized_cidr
      display_name = "operators"
    }
  }

  # NetworkPolicy objects of deploy/k8s are enforced (Dataplane V2).
  datapath_provider = "ADVANCED_DATAPATH"
  workload_identity_config {
    workload_pool = "${data.google_project.this.project_id}.svc.id.goog"
  }
  enable_shielded_nodes       = true
  enable_intranode_visibility = true
  enable_legacy_abac          = false
  master_auth {
    client_certificate_config { issue_client_certificate = false }
  }
  resource_labels     = { app = var.name }
  deletion_protection = true
}

locals {
  node_config = {
    image_type   = "COS_CONTAINERD"
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
  }
}

resource "google_container_node_pool" "standard" {
  name     = "standard"
  cluster  = google_container_cluster.this.id
  location = var.region
  autoscaling {
    min_node_count = 1
    max_node_count = 6
  }
  management {
    auto_repair  = true
    auto_upgrade = true
  }
  node_config {
    machine_type    = "e2-standard-4"
    image_type      = local.node_config.image_type
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config.oauth_scopes
    labels          = { pool = "standard" }
    workload_metadata_config { mode = "GKE_METADATA" }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = { disable-legacy-endpoints = "true" }
  }
}

# Spot VMs for the Celery workers: up to ~70% cheaper, preempted with 30 s notice, which
# the workers tolerate (late acks, idempotent tasks, ingestion checkpoints, relay standby).
resource "google_container_node_pool" "spot" {
  name     = "spot-workers"
  cluster  = google_container_cluster.this.id
  location = var.region
  autoscaling {
    min_node_count = 0
    max_node_count = var.spot_max_nodes
  }
  management {
    auto_repair  = true
    auto_upgrade = true
  }
  node_config {
    spot            = true
    machine_type    = "e2-standard-4"
    image_type      = local.node_config.image_type
    service_account = google_service_account.nodes.email
    oauth_scopes    = local.node_config.oauth_scopes
    labels          = { pool = "spot" }
    taint {
      key    = "cloud.google.com/gke-spot"
      value  = "true"
      effect = "NO_SCHEDULE"
    }
    workload_metadata_config { mode = "GKE_METADATA" }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = { disable-legacy-endpoints = "true" }
  }
}

output "cluster_name" { value = google_container_cluster.this.name }
