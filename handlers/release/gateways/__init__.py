"""Thin typed wrappers around boto3: only the calls the engine needs, under domain names."""
