terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.9"
    }
  }

  backend "gcs" {
    prefix = "acme/gke-prod"
  }
}
