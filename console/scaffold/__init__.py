"""Copier orchestration over repos.yaml: render the three repos, check drift, update them."""
