// Package train trains and evaluates Tiny Recursion Models as the
// reference pretrain.py does (spec/reference-model.md 10,
// spec/reference-loader-eval.md 2 and 3), on the CPU backend or, with the
// device key (cpu, cuda, auto), on kernels/cuda's GPU backend.
//
// Configuration: LoadConfig starts from the reference's cfg_pretrain.yaml
// with arch/trm.yaml (defaults.yaml), merges an optional YAML file, then
// applies command-line overrides in the reference's syntax (arch.L_cycles=4
// lr=1e-4 ema=True data_paths=[data/x] +run_name=x). Unknown keys are
// errors with a did-you-mean; values of the wrong type are errors naming
// the key. arch.forward_dtype (bfloat16, the reference's default, or
// float32) sets how the GPU backend multiplies: bf16 inputs with fp32
// accumulation, or full fp32 (gpu_tf32=True: TF32); tensors stay fp32 in
// memory, and the CPU computes in fp32 either way.
//
// Loop (Trainer.Run): the reference training sampler with epochs_per_iter =
// eval_interval, the ACT carry kept across batches, loss scaled by 1/global
// batch, sign-SGD on the puzzle embeddings and AdamATan2 on the rest under
// the LR schedule, EMA, total_steps = epochs·groups·mean examples/batch
// (later batches are skipped), evaluation after each pass from
// min_eval_interval on with the EMA weights when enabled.
//
// Evaluation (Evaluate): every test batch runs halt_max_steps ACT steps
// from a fresh carry; per-set metrics are the final step's sums over the
// count; the ARC evaluator crops at EOS, undoes the augmentation named in
// the puzzle identifier, votes by count then mean sigmoid(q_halt) (pooled
// over the run's evaluations) and scores pass@K, writing the Kaggle
// submission.json. eval_save_outputs (any of EvalOutputKeys) saves the
// named batch and model tensors of every evaluation, padding rows included,
// as <run>/step_<N>_all_preds.<rank>.safetensors: the reference's torch.save
// file, in a format any framework reads (trm eval: eval_all_preds.0.safetensors
// in the checkpoint).
//
// Data parallel (Options.Group, over train/dist): as the reference under
// torchrun, every rank trains the same weights on its global_batch_size /
// ranks rows of each batch, with its own ACT carry and exploration stream
// (seed + rank); the dense gradients are summed over the ranks before
// AdamATan2, the puzzle-embedding gradients of all ranks gathered for one
// identical sign-SGD step, the metrics summed on rank 0, which logs them.
// Evaluation splits every test batch the same way; rank 0 sums the metrics
// and votes on every rank's ARC predictions in rank order: the other ranks
// send each evaluation's votes, and rank 0 pools them per rank over the
// run (EvalOptions.PeerARCs), so nothing is sent twice. Rank 0 writes each
// checkpoint, with every other rank's own state in
// train_state.rank<R>.safetensors and its pooled votes in
// arc_state.rank<R>.json; a job resumes with as many ranks as wrote it. The ranks agree on every failure
// and on a Ctrl-C, so they stop together, after the same step.
//
// Bench measures training throughput: the loop, the bare model step, the
// PyTorch port of the reference (benchmarks/train/torch_trm.py), an
// evaluation rollout and the backend's SGEMM.
//
// Checkpoints (<run>/step_<N>, assembled in a hidden staging directory and
// swapped in whole):
// model.safetensors holds the reference's state_dict names
// (_orig_mod.model.inner.*), the EMA weights when ema is on, loadable with
// safetensors.torch.load_file; train_state.safetensors the trained
// parameters, AdamATan2 moments, EMA shadow, puzzle-embedding table, ACT
// carry, loader State and exploration RNG; arc_state.json the ARC votes;
// config.yaml; checkpoint.json (sizes and sha256 of the others) last.
// Resume verifies the checksums and continues bit-identically.
// load_checkpoint and EvalCheckpoint also read bare weights: safetensors
// under the reference's names, or the reference's own step_<N> files
// (torch.save state_dicts, through internal/torchsave).
package train
