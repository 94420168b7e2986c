"""The embedded local AWS: moto plus the pieces moto lacks, filled in here and never in the product."""
