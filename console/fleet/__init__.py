"""The read side: what runs where and what happened, from Git, Argo CD and the services."""
