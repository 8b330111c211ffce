# Who may do what, with no static keys anywhere:
#   - GitHub Actions get short-lived credentials through the GitHub OIDC provider; every role
#     trusts tokens for STS (`aud`) from one repository and one ref, pull request or environment
#     (`sub`, StringEquals: no wildcard anywhere).
#   - Pods get theirs through EKS Pod Identity (pods.eks.amazonaws.com), bound to one
#     ServiceAccount by an association, and only on this cluster (aws:SourceArn).

module "iam_github_oidc_provider" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-oidc-provider"
  version = "~> 6.0"

  url = "https://token.actions.githubusercontent.com"
}

# The apps repository's CI pushes images, from main only.
module "iam_apps_ecr_push_role" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "~> 6.0"

  name            = "${var.cluster_name}-apps-ecr-push"
  use_name_prefix = false
  description     = "acme/platform-apps CI on main: push images to the service repositories"

  trust_policy_permissions = {
    GithubActionsOidc = {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals = [{
        type        = "Federated"
        identifiers = [module.iam_github_oidc_provider.arn]
      }]
      condition = [
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:aud"
          values   = ["sts.amazonaws.com"]
        },
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:sub"
          # Pushes run on main, in the `registry` environment (restricted to main, github.tf).
          values = [
            "repo:acme/platform-apps:ref:refs/heads/main",
            "repo:acme/platform-apps:environment:registry",
          ]
        },
      ]
    }
  }

  create_inline_policy = true
  inline_policy_permissions = {
    EcrLogin = {
      # GetAuthorizationToken has no resource-level permissions.
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
    PushToServiceRepositories = {
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = local.ecr_repository_arns
    }
  }
}

# Infra CI, pull requests: plan. Reads everything, writes only the state lock.
module "iam_infra_plan_role" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "~> 6.0"

  name            = "${var.cluster_name}-infra-plan"
  use_name_prefix = false
  description     = "acme/platform-infra CI on pull requests: terraform plan"

  trust_policy_permissions = {
    GithubActionsOidc = {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals = [{
        type        = "Federated"
        identifiers = [module.iam_github_oidc_provider.arn]
      }]
      condition = [
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:aud"
          values   = ["sts.amazonaws.com"]
        },
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:sub"
          values   = ["repo:acme/platform-infra:pull_request"]
        },
      ]
    }
  }

  policies = {
    ReadOnlyAccess = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
  }

  create_inline_policy = true
  inline_policy_permissions = {
    StateRead = {
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${var.state_bucket}"]
    }
    StateObjectRead = {
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${var.state_bucket}/${var.state_key}"]
    }
    StateLock = {
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = ["arn:${local.partition}:s3:::${var.state_bucket}/${var.state_key}.tflock"]
    }
    # Refreshing the secret version reads its value (it is in the state already).
    RefreshGuardDeployKey = {
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.guard_deploy_key.arn]
    }
    DecryptThroughSecretsManager = {
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.platform.arn]
      condition = [{
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }]
    }
  }
}

# Infra CI, main behind the reviewed `prod` environment: apply. It manages what this
# configuration declares (network, EKS, ECR, KMS, logs, alarms, secrets, IAM roles).
module "iam_infra_apply_role" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "~> 6.0"

  name            = "${var.cluster_name}-infra-apply"
  use_name_prefix = false
  description     = "acme/platform-infra CI in the prod environment: terraform apply"

  trust_policy_permissions = {
    GithubActionsOidc = {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals = [{
        type        = "Federated"
        identifiers = [module.iam_github_oidc_provider.arn]
      }]
      condition = [
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:aud"
          values   = ["sts.amazonaws.com"]
        },
        {
          test     = "StringEquals"
          variable = "token.actions.githubusercontent.com:sub"
          values   = ["repo:acme/platform-infra:environment:prod"]
        },
      ]
    }
  }

  # Everything but IAM, organizations and account settings; IAM below, limited to the
  # resource types this configuration creates.
  policies = {
    PowerUserAccess = "arn:${local.partition}:iam::aws:policy/PowerUserAccess"
  }

  create_inline_policy = true
  inline_policy_permissions = {
    ManageRolesPoliciesAndOidcProviders = {
      actions = [
        "iam:AddClientIDToOpenIDConnectProvider",
        "iam:AddRoleToInstanceProfile",
        "iam:AttachRolePolicy",
        "iam:CreateInstanceProfile",
        "iam:CreateOpenIDConnectProvider",
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:CreateRole",
        "iam:DeleteInstanceProfile",
        "iam:DeleteOpenIDConnectProvider",
        "iam:DeletePolicy",
        "iam:DeletePolicyVersion",
        "iam:DeleteRole",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:GetInstanceProfile",
        "iam:GetOpenIDConnectProvider",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
        "iam:ListPolicyVersions",
        "iam:ListRolePolicies",
        "iam:PassRole",
        "iam:PutRolePolicy",
        "iam:RemoveClientIDFromOpenIDConnectProvider",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:TagInstanceProfile",
        "iam:TagOpenIDConnectProvider",
        "iam:TagPolicy",
        "iam:TagRole",
        "iam:UntagOpenIDConnectProvider",
        "iam:UntagPolicy",
        "iam:UntagRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:UpdateOpenIDConnectProviderThumbprint",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
      ]
      resources = [
        "arn:${local.partition}:iam::${local.account_id}:role/*",
        "arn:${local.partition}:iam::${local.account_id}:policy/*",
        "arn:${local.partition}:iam::${local.account_id}:instance-profile/*",
        "arn:${local.partition}:iam::${local.account_id}:oidc-provider/*",
      ]
    }
  }
}

# The rollback controller reads its deploy key, and nothing else.
module "iam_guard_role" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "~> 6.0"

  name            = "${var.cluster_name}-gitops-guard"
  use_name_prefix = false
  description     = "Rollback controller (${var.guard_namespace}/${var.guard_service_account}): read its deploy key"

  trust_policy_permissions = {
    EksPodIdentity = {
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals = [{
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }]
      condition = [
        {
          test     = "StringEquals"
          variable = "aws:SourceAccount"
          values   = [local.account_id]
        },
        {
          test     = "ArnEquals"
          variable = "aws:SourceArn"
          values   = [local.cluster_arn]
        },
      ]
    }
  }

  create_inline_policy = true
  inline_policy_permissions = {
    ReadDeployKey = {
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [aws_secretsmanager_secret.guard_deploy_key.arn]
    }
    DecryptThroughSecretsManager = {
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.platform.arn]
      condition = [{
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.region}.amazonaws.com"]
      }]
    }
  }
}

# The CloudWatch agent of the amazon-cloudwatch-observability add-on (Container Insights).
module "iam_cloudwatch_observability_role" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/iam/aws//modules/iam-role"
  version = "~> 6.0"

  name            = "${var.cluster_name}-cloudwatch-observability"
  use_name_prefix = false
  description     = "amazon-cloudwatch-observability add-on: publish Container Insights metrics and logs"

  trust_policy_permissions = {
    EksPodIdentity = {
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals = [{
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }]
      condition = [
        {
          test     = "StringEquals"
          variable = "aws:SourceAccount"
          values   = [local.account_id]
        },
        {
          test     = "ArnEquals"
          variable = "aws:SourceArn"
          values   = [local.cluster_arn]
        },
      ]
    }
  }

  policies = {
    CloudWatchAgentServerPolicy = "arn:${local.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
  }
}
