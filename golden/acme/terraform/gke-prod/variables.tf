variable "project" {
  description = "Google Cloud project that holds the cluster."
  type        = string
  default     = "acme-prod"
}

variable "region" {
  description = "Region of the regional cluster and its subnetwork."
  type        = string
  default     = "europe-west1"
}

variable "kubernetes_version" {
  description = "Minimum control plane version (a GKE version or alias such as 1.31); the release channel upgrades it."
  type        = string
  default     = "1.31"
}

variable "release_channel" {
  description = "GKE release channel the cluster follows."
  type        = string
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "subnet_cidr" {
  description = "Primary range of the node subnetwork."
  type        = string
  default     = "10.0.0.0/20"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a CIDR block."
  }
}

variable "pods_cidr" {
  description = "Secondary range for pod IPs."
  type        = string
  default     = "10.4.0.0/14"

  validation {
    condition     = can(cidrhost(var.pods_cidr, 0))
    error_message = "pods_cidr must be a CIDR block."
  }
}

variable "services_cidr" {
  description = "Secondary range for Service cluster IPs."
  type        = string
  default     = "10.8.0.0/20"

  validation {
    condition     = can(cidrhost(var.services_cidr, 0))
    error_message = "services_cidr must be a CIDR block."
  }
}

variable "master_cidr" {
  description = "The /28 the private control plane is peered into."
  type        = string
  default     = "172.16.0.0/28"

  validation {
    condition     = can(cidrhost(var.master_cidr, 0))
    error_message = "master_cidr must be a CIDR block."
  }
}

variable "master_authorized_networks" {
  description = "CIDR blocks, by display name, allowed to reach the control plane endpoint (none by default)."
  type        = map(string)
  default     = {}
}

variable "maintenance_start_time" {
  description = "Daily maintenance window start, HH:MM in UTC."
  type        = string
  default     = "03:00"
}

variable "deletion_protection" {
  description = "Refuse `terraform destroy` of the cluster until this is set to false."
  type        = bool
  default     = true
}
