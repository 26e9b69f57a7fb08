# Post images (Django's default storage points at it in production; SERVE_MEDIA=false).
# Images older than 30 days are rarely read: Nearline then.
variable "name" { type = string }
variable "region" { type = string }

resource "google_storage_bucket" "media" {
  #checkov:skip=CKV_GCP_62:Access logs of a public image bucket would be as large as the traffic; Cloud Audit Logs cover writes
  name                        = var.name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning { enabled = true }

  lifecycle_rule {
    condition { age = 30 }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }
  # Overwritten or deleted images: old versions go after a week.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action { type = "Delete" }
  }
}

output "bucket" { value = google_storage_bucket.media.name }
