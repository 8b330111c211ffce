"""The drill (`gitops demo`): deploy a known-good version, push a change that passes CI but
breaks readiness once deployed, and watch the platform halt the rollout, roll back in Git and
restore the known-good version under load. `runner.run_drill` is the entry point; see
docs/platform/drill.md."""
