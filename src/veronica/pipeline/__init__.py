"""Face System: per-frame stages and the engine that owns the loaded models."""
