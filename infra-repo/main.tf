# Providers and the values every other file shares. One file per concern: vpc.tf, eks.tf, iam.tf,
# ecr.tf, kms.tf, observability.tf, argocd.tf, github.tf, guard.tf, outputs.tf.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "app.kubernetes.io/part-of" = "acme-platform"
      "managed-by"                = "terraform"
      "repository"                = "acme/platform-infra"
    }
  }
}

# Token from GITHUB_TOKEN (a GitHub App installation token or a fine-grained token with
# Administration, Environments, Secrets and Variables on the three repositories).
provider "github" {
  owner = "acme"
}

# Both cluster providers authenticate with short-lived tokens from the caller's AWS identity
# (`aws eks get-token`); there is no kubeconfig or static credential anywhere.
provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

  exec {
    api_version = "client.authentication.k8s.io/v1beta1"
    command     = "aws"
    args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

provider "helm" {
  kubernetes = {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Built from its parts (not read from module.eks) so the roles that trust the cluster do not
  # depend on the cluster, which depends on them.
  cluster_arn = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.cluster_name}"

  # One ECR repository per service, named so that `123456789012.dkr.ecr.eu-west-1.amazonaws.com/<service>` is its URL.
  services            = toset(["backend", "frontend"])
  ecr_name_prefix     = ""
  ecr_repository_arns = [for name in local.services : "arn:${local.partition}:ecr:${var.region}:${local.account_id}:repository/${local.ecr_name_prefix}${name}"]

  # The three repositories of the platform, managed in github.tf.
  repositories = {
    infra  = { name = "platform-infra", description = "Terraform for the acme platform: EKS, IAM, ECR, Argo CD bootstrap" }
    apps   = { name = "platform-apps", description = "The acme platform's services, their tests and CI" }
    deploy = { name = "platform-deploy", description = "Desired state of the acme platform: Kustomize and Argo CD" }
  }

  deploy_repo_url = "https://github.com/acme/platform-deploy.git"
}
