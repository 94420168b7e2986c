"""The release engine's domain package: pure decisions, thin gateways, and their errors."""
