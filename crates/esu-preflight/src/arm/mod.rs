//! Thin, typed access to Azure Resource Manager over the `azure_core` pipeline.
