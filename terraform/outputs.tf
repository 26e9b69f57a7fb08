output "cluster_name" {
  value = module.gke.cluster_name
}

output "database_connection_name" {
  value = module.cloudsql.connection_name
}

output "database_replica_connection_names" {
  value = module.cloudsql.replica_connection_names
}

output "broker_address" {
  value = module.redis.address
}

output "media_bucket" {
  value = module.storage.bucket
}

output "image_repository" {
  value = module.registry.repository_url
}

output "secret_ids" {
  description = "Secret Manager secrets that become the `puppies-secrets` Kubernetes Secret."
  value       = module.secrets.secret_ids
}
