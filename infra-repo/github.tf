# GitHub as code: the three repositories, how main is protected, the reviewed `prod` environment
# that gates apply, and the Actions variables the other repositories' CI read. Existing
# repositories are imported first (README, "Bootstrap").

resource "github_repository" "this" {
  #checkov:skip=CKV_GIT_3:alerts are github_repository_vulnerability_alerts.this (the argument is deprecated)
  for_each = local.repositories

  name        = each.value.name
  description = each.value.description
  visibility  = var.repository_visibility

  has_issues   = true
  has_projects = false
  has_wiki     = false

  # Linear history: squash (PR title becomes the conventional commit) or rebase, no merge commits.
  allow_merge_commit          = false
  allow_squash_merge          = true
  allow_rebase_merge          = true
  squash_merge_commit_title   = "PR_TITLE"
  squash_merge_commit_message = "COMMIT_MESSAGES"
  delete_branch_on_merge      = true

  archive_on_destroy = true

  lifecycle {
    prevent_destroy = true
  }
}

# Dependabot alerts: a resource of their own since integrations/github 6.12 (the repository's
# `vulnerability_alerts` argument is deprecated).
resource "github_repository_vulnerability_alerts" "this" {
  for_each = local.repositories

  repository = github_repository.this[each.key].name
  enabled    = true
}

# main keeps its history for everyone, the guard included: no deletion, no force push, no merge
# commits. No bypass actors.
resource "github_repository_ruleset" "main_history" {
  for_each = local.repositories

  name        = "main: history"
  repository  = github_repository.this[each.key].name
  target      = "branch"
  enforcement = "active"

  conditions {
    ref_name {
      include = ["~DEFAULT_BRANCH"]
      exclude = []
    }
  }

  rules {
    deletion                = true
    non_fast_forward        = true
    required_linear_history = true
  }
}

# main moves through reviewed pull requests whose checks, the conventional-commit check among
# them, have passed. In the deploy repository the writers that commit directly bypass this
# ruleset, and only this one: deploy keys (the guard's revert commits) and, when
# deploy_app_id is set, the GitHub App the apps CI promotes with.
locals {
  deploy_bypass_actors = concat(
    [{ actor_type = "DeployKey", actor_id = null }],
    var.deploy_app_id == null ? [] : [{ actor_type = "Integration", actor_id = var.deploy_app_id }],
  )
}

resource "github_repository_ruleset" "main_checks" {
  for_each = local.repositories

  name        = "main: reviews and checks"
  repository  = github_repository.this[each.key].name
  target      = "branch"
  enforcement = "active"

  conditions {
    ref_name {
      include = ["~DEFAULT_BRANCH"]
      exclude = []
    }
  }

  dynamic "bypass_actors" {
    for_each = each.key == "deploy" ? local.deploy_bypass_actors : []
    content {
      actor_id    = bypass_actors.value.actor_id
      actor_type  = bypass_actors.value.actor_type
      bypass_mode = "always"
    }
  }

  rules {
    pull_request {
      required_approving_review_count   = var.required_approvals
      require_code_owner_review         = true
      dismiss_stale_reviews_on_push     = true
      required_review_thread_resolution = true
    }

    required_status_checks {
      strict_required_status_checks_policy = true

      dynamic "required_check" {
        for_each = var.required_status_checks[each.key]
        content {
          context = required_check.value
        }
      }
    }
  }
}

# The code owners, reviewers of the prod environment.

data "github_team" "owners" {
  slug = "platform"
}

# Apply runs in this environment: only from main, only after a code owner other than the pusher
# approves the run.
resource "github_repository_environment" "prod" {
  repository          = github_repository.this["infra"].name
  environment         = "prod"
  prevent_self_review = true
  can_admins_bypass   = false

  reviewers {
    teams = [tonumber(data.github_team.owners.id)]
  }

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

resource "github_repository_environment_deployment_policy" "prod_main" {
  repository     = github_repository.this["infra"].name
  environment    = github_repository_environment.prod.environment
  branch_pattern = "main"
}

# The apps CI pushes images from this environment; only main may deploy to it.
resource "github_repository_environment" "registry" {
  repository  = github_repository.this["apps"].name
  environment = "registry"

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

resource "github_repository_environment_deployment_policy" "registry_main" {
  repository     = github_repository.this["apps"].name
  environment    = github_repository_environment.registry.environment
  branch_pattern = "main"
}

# Values (not secrets) the workflows read as `vars.*`: which role to assume, where to push.
resource "github_actions_variable" "infra_plan_role" {
  repository    = github_repository.this["infra"].name
  variable_name = "AWS_PLAN_ROLE_ARN"
  value         = module.iam_infra_plan_role.arn
}

resource "github_actions_environment_variable" "infra_apply_role" {
  repository    = github_repository.this["infra"].name
  environment   = github_repository_environment.prod.environment
  variable_name = "AWS_APPLY_ROLE_ARN"
  value         = module.iam_infra_apply_role.arn
}

resource "github_actions_variable" "apps_push_role" {
  repository    = github_repository.this["apps"].name
  variable_name = "AWS_PUSH_ROLE_ARN"
  value         = module.iam_apps_ecr_push_role.arn
}

resource "github_actions_variable" "apps_region" {
  repository    = github_repository.this["apps"].name
  variable_name = "AWS_REGION"
  value         = var.region
}

# create-github-app-token authenticates as the App by its client ID (its `app-id` input is
# deprecated); the numeric ID above is what the ruleset's bypass list needs.
resource "github_actions_variable" "apps_deploy_app_client_id" {
  count = var.deploy_app_client_id == null ? 0 : 1

  repository    = github_repository.this["apps"].name
  variable_name = "DEPLOY_APP_CLIENT_ID"
  value         = var.deploy_app_client_id
}
