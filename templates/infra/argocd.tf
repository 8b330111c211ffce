# Argo CD bootstrap: the one time anything is installed into the cluster from here. From then on
# Argo CD pulls the desired state from the deploy repository; nothing pushes to the cluster.

resource "kubernetes_namespace_v1" "argocd" {
  metadata {
    name = var.argocd_namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/audit"   = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
    }
  }

  depends_on = [module.eks]
}

resource "helm_release" "argocd" {
  name       = "argocd"
  namespace  = kubernetes_namespace_v1.argocd.metadata[0].name
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argo-cd"
  version    = "8.5.0"

  atomic          = true
  cleanup_on_fail = true
  timeout         = 900

  values = [yamlencode({
    # No ingress: reach the UI/API with `kubectl port-forward` or the console's kube context.
    server = {
      service = { type = "ClusterIP" }
    }
    dex = { enabled = false }
    global = {
      networkPolicy = { create = true }
    }
  })]
}

# The entry point of the app-of-apps: an Application that syncs the deploy repository's `argocd/`
# directory, i.e. its root Application (argocd/root.yaml, which points at argocd/apps/). It is
# called `bootstrap` so it never collides with the `root` Application it creates, and it belongs
# to an AppProject that may only create Argo CD objects in this namespace from the deploy
# repository. Installed with the argocd-apps chart so that plan does not need the CRDs yet.
resource "helm_release" "argocd_root" {
  name       = "argocd-root"
  namespace  = kubernetes_namespace_v1.argocd.metadata[0].name
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = "2.0.2"

  atomic          = true
  cleanup_on_fail = true

  values = [yamlencode({
    projects = {
      bootstrap = {
        namespace   = var.argocd_namespace
        description = "Bootstrap: the root Application and the Argo CD objects it creates"
        sourceRepos = [local.deploy_repo_url]
        destinations = [{
          server    = "https://kubernetes.default.svc"
          namespace = var.argocd_namespace
        }]
        clusterResourceWhitelist = []
        namespaceResourceWhitelist = [
          { group = "argoproj.io", kind = "Application" },
          { group = "argoproj.io", kind = "AppProject" },
          { group = "argoproj.io", kind = "ApplicationSet" },
        ]
      }
    }
    applications = {
      bootstrap = {
        namespace = var.argocd_namespace
        project   = "bootstrap"
        source = {
          repoURL        = local.deploy_repo_url
          targetRevision = "main"
          path           = "argocd"
        }
        destination = {
          server    = "https://kubernetes.default.svc"
          namespace = var.argocd_namespace
        }
        syncPolicy = {
          automated = {
            prune    = true
            selfHeal = true
          }
          retry = {
            limit   = 5
            backoff = { duration = "5s", factor = 2, maxDuration = "3m" }
          }
        }
      }
    }
  })]

  depends_on = [helm_release.argocd]
}
