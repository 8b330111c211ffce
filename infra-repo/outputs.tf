# What the other repositories need. Nothing here carries key material: the guard's private key is
# only in Secrets Manager (and the state), and is referenced by ARN.

output "region" {
  description = "AWS region of the platform."
  value       = var.region
}

output "cluster_name" {
  description = "Name of the EKS cluster (`aws eks update-kubeconfig --name ...`)."
  value       = module.eks.cluster_name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = module.eks.cluster_arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint (private unless public CIDRs are listed)."
  value       = module.eks.cluster_endpoint
}

output "eks_oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster, for IRSA roles."
  value       = module.eks.oidc_provider_arn
}

output "github_oidc_provider_arn" {
  description = "IAM OIDC provider trusted by the GitHub Actions roles."
  value       = module.iam_github_oidc_provider.arn
}

output "ecr_repository_urls" {
  description = "Registry URL of each service's repository: service => URL."
  value       = { for name, repo in module.ecr : name => repo.repository_url }
}

output "platform_repository_url" {
  description = "Registry URL of the platform's own image (the rollback controller)."
  value       = module.ecr_platform.repository_url
}

output "apps_ci_push_role_arn" {
  description = "Role the apps repository's CI (main) assumes to push images; set as its AWS_PUSH_ROLE_ARN variable."
  value       = module.iam_apps_ecr_push_role.arn
}

output "infra_plan_role_arn" {
  description = "Role this repository's CI assumes on pull requests (plan); set as AWS_PLAN_ROLE_ARN."
  value       = module.iam_infra_plan_role.arn
}

output "infra_apply_role_arn" {
  description = "Role this repository's CI assumes in the prod environment (apply); set as AWS_APPLY_ROLE_ARN there."
  value       = module.iam_infra_apply_role.arn
}

output "guard_role_arn" {
  description = "Role of the rollback controller, bound to its ServiceAccount by EKS Pod Identity."
  value       = module.iam_guard_role.arn
}

output "guard_service_account" {
  description = "namespace/name of the ServiceAccount the guard must run as."
  value       = "${var.guard_namespace}/${var.guard_service_account}"
}

output "guard_deploy_key_secret_arn" {
  description = "Secrets Manager secret holding the guard's deploy key (private half, OpenSSH format)."
  value       = aws_secretsmanager_secret.guard_deploy_key.arn
}

output "guard_deploy_key_fingerprint" {
  description = "SHA256 fingerprint of the guard's deploy key, to check against the key listed on GitHub."
  value       = tls_private_key.guard_deploy_key.public_key_fingerprint_sha256
  sensitive   = true
}

output "alarm_topic_arn" {
  description = "SNS topic the cluster alarms publish to."
  value       = aws_sns_topic.alerts.arn
}

output "argocd_namespace" {
  description = "Namespace Argo CD runs in."
  value       = helm_release.argocd.namespace
}
