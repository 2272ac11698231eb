"""Distributed programs: Ray feature extraction, Ray Train, MLflow tracking, WebDataset I/O."""
