// Package train trains and evaluates Tiny Recursion Models on the CPU
// backend as the reference pretrain.py does (spec/reference-model.md 10,
// spec/reference-loader-eval.md 2 and 3): the reference's YAML configuration
// with command-line overrides, the training loop with the ACT carry kept
// across batches, AdamATan2 and sparse sign-SGD under the LR schedule, EMA,
// periodic evaluation with the exact/token accuracy and ARC evaluators,
// checkpoints that resume exactly, and per-run metrics.
package train
