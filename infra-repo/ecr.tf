# One private repository per service. Tags are immutable (an image is its commit SHA, forever),
# every push is scanned, images are encrypted with the platform key, and old images expire.
module "ecr" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/ecr/aws"
  version = "~> 3.0"

  for_each = local.services

  repository_name                 = "${local.ecr_name_prefix}${each.key}"
  repository_image_tag_mutability = "IMMUTABLE"
  repository_image_scan_on_push   = true
  repository_encryption_type      = "KMS"
  repository_kms_key              = aws_kms_key.platform.arn
  repository_force_delete         = false

  # Repository policy: CI pushes, the nodes pull; nobody else.
  repository_read_write_access_arns = [module.iam_apps_ecr_push_role.arn]
  repository_read_access_arns       = [module.eks.eks_managed_node_groups["default"].iam_role_arn]

  create_lifecycle_policy = true
  repository_lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images (layers of superseded builds) after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the 200 most recent images: rollback targets stay available"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 200
        }
        action = { type = "expire" }
      },
    ]
  })
}

# The platform's own image (the rollback controller the deploy repo runs), with the same guarantees:
# its manifests pin it by tag, which is only safe because tags here are immutable.
module "ecr_platform" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/ecr/aws"
  version = "~> 3.0"

  repository_name                 = "${local.ecr_name_prefix}gitops-platform"
  repository_image_tag_mutability = "IMMUTABLE"
  repository_image_scan_on_push   = true
  repository_encryption_type      = "KMS"
  repository_kms_key              = aws_kms_key.platform.arn
  repository_force_delete         = false

  # Released by the platform team's own pipeline; the nodes only pull.
  repository_read_access_arns = [module.eks.eks_managed_node_groups["default"].iam_role_arn]

  create_lifecycle_policy = true
  repository_lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the 50 most recent releases"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 50
        }
        action = { type = "expire" }
      },
    ]
  })
}
