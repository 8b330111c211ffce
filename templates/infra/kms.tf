# Customer-managed keys. Key policies keep the account root as the anchor (so IAM policies decide
# who may use a key) and name the AWS services that encrypt with them; no principal is a wildcard.

# Logs (control plane, VPC flow logs) and the alarm topic.
resource "aws_kms_key" "observability" {
  description             = "${var.cluster_name}: CloudWatch Logs and the alarm SNS topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsThisAccountsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "observability" {
  name          = "alias/${var.cluster_name}-observability"
  target_key_id = aws_kms_key.observability.key_id
}

# Images (ECR) and the guard's deploy key (Secrets Manager). Both services use the key through
# grants on behalf of callers that IAM already allows.
resource "aws_kms_key" "platform" {
  description             = "${var.cluster_name}: ECR repositories and Secrets Manager secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.cluster_name}-platform"
  target_key_id = aws_kms_key.platform.key_id
}
