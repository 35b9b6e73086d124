"""The cluster runner: every node of a deployment on this machine, wired together
(see README.md)."""
