"""The operator console (`gitops console`): a Textual app over the fleet's read side
(docs/platform/console.md)."""
