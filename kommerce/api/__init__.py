"""The Kommerce Kubernetes API: custom resource models and the CRDs generated from them.

The pydantic models are the single source of truth: `kommerce crds generate` turns them into
the CRD YAML in `crds/`, the operators parse specs with them, and services read status with them.
"""
