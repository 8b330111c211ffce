"""`gitops promote`: move an image tag into an environment's overlay, as a commit."""
