# The rollback controller (gitops guard) writes revert commits to the deploy repository with its
# own deploy key. The private half goes straight into Secrets Manager, encrypted with the platform
# key, readable only by the guard's role (iam.tf); it is never an output. It does live in the
# Terraform state, which is why the state bucket is encrypted and access to it restricted
# (README). Rotate with `terraform apply -replace=tls_private_key.guard_deploy_key`.

resource "tls_private_key" "guard_deploy_key" {
  algorithm = "ED25519"
}

resource "github_repository_deploy_key" "guard" {
  repository = github_repository.this["deploy"].name
  title      = "gitops-guard (${var.cluster_name})"
  key        = trimspace(tls_private_key.guard_deploy_key.public_key_openssh)
  read_only  = false
}

resource "aws_secretsmanager_secret" "guard_deploy_key" {
  # checkov:skip=CKV2_AWS_57:An SSH deploy key registered on GitHub, not a credential Secrets Manager can rotate: a rotation Lambda cannot re-register the public half on the repository. Rotation is `terraform apply -replace=tls_private_key.guard_deploy_key`, which replaces both halves in one reviewed apply.
  name                    = "${var.cluster_name}/gitops-guard/deploy-key"
  description             = "SSH private key (OpenSSH) of the gitops guard's deploy key on ${local.repositories.deploy.name}"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "guard_deploy_key" {
  secret_id     = aws_secretsmanager_secret.guard_deploy_key.id
  secret_string = tls_private_key.guard_deploy_key.private_key_openssh
}

# Pods running as the guard's ServiceAccount get the guard role's credentials (EKS Pod Identity).
resource "aws_eks_pod_identity_association" "guard" {
  cluster_name    = module.eks.cluster_name
  namespace       = var.guard_namespace
  service_account = var.guard_service_account
  role_arn        = module.iam_guard_role.arn
}
