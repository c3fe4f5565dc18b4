variable "region" {
  description = "DigitalOcean region slug of the cluster and its VPC."
  type        = string
  default     = "ams3"
}

variable "kubernetes_version" {
  description = "Kubernetes minor version; the newest DOKS release of it is used."
  type        = string
  default     = "1.31"
}

variable "vpc_ip_range" {
  description = "CIDR of the VPC; null lets DigitalOcean choose a free range."
  type        = string
  default     = null
}

variable "control_plane_allowed_addresses" {
  description = "Addresses or CIDRs allowed to reach the Kubernetes API; empty leaves the API open to all."
  type        = list(string)
  default     = []
}

variable "maintenance_day" {
  description = "Day of the weekly maintenance window in which patch upgrades run."
  type        = string
  default     = "sunday"

  validation {
    condition     = contains(["any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"], var.maintenance_day)
    error_message = "maintenance_day must be a day of the week in lower case, or any."
  }
}

variable "maintenance_start_time" {
  description = "Start of the maintenance window, HH:MM in UTC."
  type        = string
  default     = "04:00"
}
