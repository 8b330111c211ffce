terraform {
  # >= 1.10 for the S3 backend's native lock file (`use_lockfile`); CI and mise.toml pin 1.11.4.
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    github = {
      source  = "integrations/github"
      version = "~> 6.12" # github_repository_vulnerability_alerts
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # Remote state: S3 with S3-native locking (`use_lockfile = true`, no DynamoDB table).
  # The settings live in backend.hcl (partial configuration, see backend.hcl.example and the
  # README); uncomment once the state bucket exists, then `terraform init -migrate-state
  # -backend-config=backend.hcl`.
  #
  # backend "s3" {}
}
