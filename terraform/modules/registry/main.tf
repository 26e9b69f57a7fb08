# The app's image (the repository's Dockerfile), pulled by the GKE nodes.
variable "name" { type = string }
variable "region" { type = string }

data "google_project" "this" {}

resource "google_artifact_registry_repository" "app" {
  #checkov:skip=CKV_GCP_84:Images hold no secrets and no user data; Google-managed encryption keys, no KMS key to operate
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "Images of ${var.name}"
  docker_config { immutable_tags = true }
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions { keep_count = 30 }
  }
}

output "repository_url" {
  value = "${var.region}-docker.pkg.dev/${data.google_project.this.project_id}/${google_artifact_registry_repository.app.repository_id}"
}
