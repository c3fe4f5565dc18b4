provider "digitalocean" {}
