"""The models seqgen ships, installed as the package `seqgen.shipped` (see seqgen.catalog): one folder per model
(config.json, model.safetensors, MODEL_CARD.md) and SHA256SUMS, the checksums of every file."""
