"""One module per `gitops` command, imported only when that command runs (Copier alone takes a
second and a half to import; `gitops --help` should not)."""
