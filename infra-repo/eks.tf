module "eks" {
  # checkov:skip=CKV_TF_1:Terraform Registry module; the registry protocol has no commit-hash pinning, so the release is pinned with `version` and Dependabot (7-day cooldown) proposes bumps as reviewed PRs.
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 21.0"

  name               = var.cluster_name
  kubernetes_version = var.kubernetes_version

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets

  # The API server is reachable from inside the VPC; the public endpoint exists only when
  # specific CIDRs are listed (never 0.0.0.0/0, see the variable's validation).
  endpoint_private_access      = true
  endpoint_public_access       = length(var.cluster_endpoint_public_access_cidrs) > 0
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # Control-plane logs, encrypted, with a retention.
  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.observability.arn

  # Kubernetes Secrets are envelope-encrypted with a customer-managed key the module creates.
  create_kms_key                = true
  enable_kms_key_rotation       = true
  kms_key_enable_default_policy = true
  kms_key_administrators        = [module.iam_infra_apply_role.arn]
  encryption_config = {
    resources = ["secrets"]
  }

  # Access entries only (no aws-auth ConfigMap); nobody is admin just for having created it.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = false
  access_entries = merge(
    {
      infra_apply = {
        principal_arn = module.iam_infra_apply_role.arn
        policy_associations = {
          admin = {
            policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
      infra_plan = {
        principal_arn = module.iam_infra_plan_role.arn
        policy_associations = {
          view = {
            policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
    },
    {
      for i, arn in var.cluster_admin_arns : "admin_${i}" => {
        principal_arn = arn
        policy_associations = {
          admin = {
            policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
    },
  )

  addons = {
    vpc-cni = {
      before_compute = true
      # The network policy agent: without it no NetworkPolicy (the deploy repo's, Argo CD's)
      # is enforced on EKS.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = {
      before_compute = true
    }
    coredns    = {}
    kube-proxy = {}
    # Container Insights (metrics for the alarms in observability.tf, container logs), with its
    # permissions through EKS Pod Identity rather than the node role.
    amazon-cloudwatch-observability = {
      pod_identity_association = [{
        role_arn        = module.iam_cloudwatch_observability_role.arn
        service_account = "cloudwatch-agent"
      }]
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_desired_size

      # IMDSv2 only, one hop: pods cannot borrow the node's credentials.
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = 50
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }
    }
  }
}
