"""One module per DVC stage: parse params, call a pipeline or pure function, write outputs atomically."""
