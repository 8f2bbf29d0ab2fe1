"""Files: outputs written atomically, job folders (locks, staging, manifests), and the project's checkpoints."""
