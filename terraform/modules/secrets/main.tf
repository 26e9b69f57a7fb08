# The app's secrets in Secret Manager, synced into the `puppies-secrets` Kubernetes Secret
# (deploy/k8s/config.yaml). SECRET_KEY, JWT_SIGNING_KEY and METRICS_TOKEN are generated
# here (rotate by adding a version: README, "Signing keys"); the connection strings come
# from the other modules.
variable "name" { type = string }
variable "values" {
  type      = map(string)
  sensitive = true
}

locals {
  generated = ["SECRET_KEY", "JWT_SIGNING_KEY", "METRICS_TOKEN"]
  # Names only (not sensitive) drive for_each; the values stay sensitive.
  passed = ["DATABASE_URL", "DATABASE_REPLICA_URL", "CELERY_BROKER_URL", "BROKER_REDIS_ADDRESS", "BROKER_REDIS_PASSWORD", "BROKER_REDIS_CA"]
}

resource "random_password" "generated" {
  for_each = toset(local.generated)
  length   = 64
  special  = false
}

resource "google_secret_manager_secret" "app" {
  for_each  = toset(concat(local.generated, local.passed))
  secret_id = "${var.name}-${lower(replace(each.value, "_", "-"))}"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "generated" {
  for_each    = toset(local.generated)
  secret      = google_secret_manager_secret.app[each.value].id
  secret_data = random_password.generated[each.value].result
}

resource "google_secret_manager_secret_version" "passed" {
  for_each    = toset(local.passed)
  secret      = google_secret_manager_secret.app[each.value].id
  secret_data = var.values[each.value]
}

output "secret_ids" {
  value = { for key, secret in google_secret_manager_secret.app : key => secret.secret_id }
}
