"""The rollback controller: watches Applications, decides with a pure policy, writes rollbacks
to Git."""
