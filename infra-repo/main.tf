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
