//! Model registry (see docs/registry.md).
