"""The hub: the Kubernetes API server dedicated to kokpit, and what kokpit installs and runs there."""
