variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "cluster_name" {
  description = "Name of the EKS cluster; also the prefix of every named AWS resource."
  type        = string
  default     = "gitops-platform"
}

variable "kubernetes_version" {
  description = "Kubernetes <major>.<minor> of the EKS control plane and node group."
  type        = string
  default     = "1.33"
}

# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------

variable "availability_zones" {
  description = "Exactly three availability zones of the region (an explicit list, so a new AZ never reshapes the VPC)."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

  validation {
    condition     = length(var.availability_zones) == 3
    error_message = "Give exactly three availability zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; private, public and intra subnets are carved from it."
  type        = string
  default     = "10.0.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = false
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (e.g. CI runners' egress). Empty: the endpoint is private only."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.cluster_endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint is never open to the whole internet; list specific CIDRs."
  }
}

# ---------------------------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------------------------

variable "cluster_admin_arns" {
  description = "IAM principals (roles of the platform team) granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "node_min_size" {
  description = "Minimum number of nodes; the node-count alarm fires below it."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 5
}

variable "node_desired_size" {
  description = "Initial number of nodes (later changes are left to the autoscaler)."
  type        = number
  default     = 3
}

# ---------------------------------------------------------------------------------------------
# Observability
# ---------------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the control-plane and VPC flow log groups, in days."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (empty: subscribe later, e.g. a chat integration)."
  type        = string
  default     = ""
}

# ---------------------------------------------------------------------------------------------
# GitOps
# ---------------------------------------------------------------------------------------------

variable "argocd_namespace" {
  description = "Namespace Argo CD runs in."
  type        = string
  default     = "argocd"
}

variable "guard_namespace" {
  description = "Namespace of the rollback controller (gitops guard)."
  type        = string
  default     = "gitops-system"
}

variable "guard_service_account" {
  description = "ServiceAccount of the rollback controller, bound to its IAM role by EKS Pod Identity."
  type        = string
  default     = "gitops-guard"
}

# ---------------------------------------------------------------------------------------------
# GitHub
# ---------------------------------------------------------------------------------------------

variable "repository_visibility" {
  description = "Visibility of the three repositories."
  type        = string
  default     = "private"

  validation {
    condition     = contains(["private", "internal"], var.repository_visibility)
    error_message = "Repositories are private or internal."
  }
}

variable "deploy_app_id" {
  description = "ID of the GitHub App the apps CI promotes with (commits to the deploy repo's main); null: none yet."
  type        = number
  default     = null
}

variable "deploy_app_client_id" {
  description = "Client ID of that GitHub App (Iv23..., not its numeric ID): what the apps CI authenticates with; null: none yet."
  type        = string
  default     = null
}

variable "required_approvals" {
  description = "Approving reviews a pull request into main needs."
  type        = number
  default     = 1
}

variable "required_status_checks" {
  description = "Status checks (job names of each repository's CI) that must pass before main moves."
  type        = map(list(string))
  default = {
    infra  = ["conventional-commits", "static", "checkov", "plan"]
    apps   = ["conventional-commits"]
    deploy = ["conventional-commits"]
  }

  validation {
    condition     = alltrue([for repo in ["infra", "apps", "deploy"] : contains(try(var.required_status_checks[repo], []), "conventional-commits")])
    error_message = "Every repository requires the conventional-commits check."
  }
}

# ---------------------------------------------------------------------------------------------
# Terraform state (the same values as backend.hcl; the CI roles get access to exactly these)
# ---------------------------------------------------------------------------------------------

variable "state_bucket" {
  description = "S3 bucket holding this configuration's state."
  type        = string
  default     = "acme-gitops-platform-tfstate"
}

variable "state_key" {
  description = "Object key of the state in the bucket."
  type        = string
  default     = "platform-infra/terraform.tfstate"
}
