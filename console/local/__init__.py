"""The embedded platform: `gitops up` runs the GitOps loop on one machine."""
