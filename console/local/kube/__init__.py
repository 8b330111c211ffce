"""The embedded platform's Kubernetes: the Deployment controller's rollout planner, the kubelet
(supervisor, pods, probes, volumes), the runtime that applies objects, and the data plane (Service
proxies in a process of their own)."""
