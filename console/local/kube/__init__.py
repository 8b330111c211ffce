"""The embedded platform's Kubernetes: objects and kinds, the Deployment controller (with its
rollout planner), the kubelet (pods, probes, volumes, the container runtime), the runtime that
applies objects, and the data plane (Service proxies in a process of their own). It knows nothing
of Argo CD, which sits above it (ADR 0009)."""
