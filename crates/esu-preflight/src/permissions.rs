//! Azure RBAC action matching.
