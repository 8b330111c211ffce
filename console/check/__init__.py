"""`gitops check`: the offline validation matrix over generated repos."""
