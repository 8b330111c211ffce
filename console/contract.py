"""The names the platform's pieces agree on across repos and processes: the trailers of deploy-
repo commits, the labels and annotations on Applications.

Git and Argo CD carry them between the templates, the promoter, the guard, the console and the
drill, which each read what the others wrote; a name changed here no longer matches what every
deploy repo already recorded, so treat each as a published API.
"""

from __future__ import annotations

# Commit trailers of a rollback (console.guard.rollback writes them; the console, `gitops
# status`, the post-mortem and the guard after a restart read them).
ROLLBACK_OF = "Rollback-Of"  # the bad revision
ROLLBACK_TO = "Rollback-To"  # the known-good revision whose content is restored
ROLLBACK_APP = "Rollback-App"  # the Application rolled back
ROLLBACK_REASON = "Rollback-Reason"  # what the guard measured

# Commit trailers of a promotion (console.promote).
PROMOTED_SERVICE = "Promoted-Service"
PROMOTED_TAG = "Promoted-Tag"
SOURCE_COMMIT = "Source-Commit"  # the apps-repo commit the image was built from
PROMOTED_FROM = "Promoted-From"  # the environment it came from

DRILL_TRAILER = "Drill-Id"  # the drill's bad change, so its post-mortem finds it

# Labels on Applications (the deploy template sets them; the console's matrix reads them).
SERVICE_LABEL = "gitops.platform/service"
ENV_LABEL = "gitops.platform/env"
# The platform's own Applications (root, guard): what they are, where no service label says it.
COMPONENT_LABEL = "gitops.platform/component"

# The guard's policy, as annotations on each Application (console.guard.policy).
ENABLED = "gitops.platform/auto-rollback"
GRACE = "gitops.platform/rollback-grace-seconds"
DEADLINE = "gitops.platform/progress-deadline-seconds"

# The guard's analysis of a new revision's service level (console.guard.analysis): how long it is
# watched once Healthy, its thresholds, the least traffic a verdict needs, and where samples come
# from ("pods": each pod's /metrics; "prometheus": PromQL).
ANALYSIS_SECONDS = "gitops.platform/analysis-seconds"
MAX_ERROR_RATIO = "gitops.platform/max-error-ratio"
MAX_P95_LATENCY_MS = "gitops.platform/max-p95-latency-ms"
ANALYSIS_MIN_REQUESTS = "gitops.platform/analysis-min-requests"
ANALYSIS_PROVIDER = "gitops.platform/analysis-provider"
