"""Code shared by the pipeline stages."""
