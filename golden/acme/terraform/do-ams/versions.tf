terraform {
  required_version = ">= 1.6"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.79"
    }
  }

  backend "s3" {
    key = "acme/do-ams/terraform.tfstate"
  }
}
