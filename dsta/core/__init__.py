"""The facts and plumbing every layer uses: joint orders and groups, the error type, file IO, provenance, the
model registry and the typed configs with their checks. Torch-free; imports nothing else of the project."""
